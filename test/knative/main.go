// validate runs Knative's webhook validation on rendered manifests, offline: every Knative object
// in the multi-document YAML on stdin is decoded into the upstream Go type, defaulted, and
// validated as on create, with Knative's default feature flags and the defaults ConfigMap a stock
// Knative Eventing install ships (-eventing-defaults, config-br-defaults: the default Broker
// class). Other kinds are skipped (the API server validates them). One JSON line per object;
// exit 1 if any fails.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"

	eventingconfig "knative.dev/eventing/pkg/apis/config"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

type knativeObject interface {
	apis.Defaultable
	apis.Validatable
}

type result struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Errors string `json:"errors,omitempty"`
}

func newObject(apiVersion, kind string) knativeObject {
	switch apiVersion + "/" + kind {
	case "serving.knative.dev/v1/Service":
		return &servingv1.Service{}
	case "eventing.knative.dev/v1/Broker":
		return &eventingv1.Broker{}
	case "eventing.knative.dev/v1/Trigger":
		return &eventingv1.Trigger{}
	case "sources.knative.dev/v1/PingSource":
		return &sourcesv1.PingSource{}
	}
	return nil
}

// withEventingDefaults puts the shipped config-br-defaults into ctx, as the eventing webhook does.
func withEventingDefaults(ctx context.Context, path string) context.Context {
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(2)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		fmt.Fprintln(os.Stderr, "validate: parsing", path, err)
		os.Exit(2)
	}
	defaults, err := eventingconfig.NewDefaultsConfigFromConfigMap(&cm)
	if err != nil {
		fmt.Fprintln(os.Stderr, "validate: reading", path, err)
		os.Exit(2)
	}
	return eventingconfig.ToContext(ctx, &eventingconfig.Config{Defaults: defaults})
}

func main() {
	eventingDefaults := flag.String("eventing-defaults", "", "path of Knative Eventing's config/core/configmaps/default-broker.yaml")
	flag.Parse()
	base := apis.WithinCreate(context.Background())
	if *eventingDefaults != "" {
		base = withEventingDefaults(base, *eventingDefaults)
	}
	failed := false
	reader := yaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	out := json.NewEncoder(os.Stdout)
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "validate: reading YAML:", err)
			os.Exit(2)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Kind == "" {
			continue
		}
		obj := newObject(meta.APIVersion, meta.Kind)
		if obj == nil {
			continue
		}
		r := result{Kind: meta.Kind, Name: meta.Metadata.Name, OK: true}
		// Strict decoding: an unknown field is an error, as the webhook's schema would make it.
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			r.OK, r.Errors = false, err.Error()
		} else {
			obj.SetDefaults(base)
			if errs := obj.Validate(base); errs != nil {
				r.OK, r.Errors = false, errs.Error()
			}
		}
		failed = failed || !r.OK
		_ = out.Encode(r)
	}
	if failed {
		os.Exit(1)
	}
}
