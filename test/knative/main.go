// validate runs Knative's admission-webhook checks on rendered manifests, offline.
//
//	validate -serving-config DIR -eventing-config DIR [FILE ...]   (no FILE, or "-": stdin)
//
// Every Knative object in the multi-document YAML (serving.knative.dev/v1 Service,
// eventing.knative.dev/v1 Broker and Trigger, sources.knative.dev/v1 PingSource) is handled as the
// webhooks of a stock install handle a create: decoded into the upstream Go type with unknown
// fields refused (knative.dev/pkg/webhook/json, as both webhooks are configured), defaulted
// (SetDefaults, the mutating webhook), then validated (Validate, the validating webhook), with the
// webhooks' context: the ConfigMaps a stock install ships, read from DIR (each module's
// config/core/configmaps), fed through the same config stores the webhooks watch them with. That
// matters: eventing reads its feature flags only from the context (nil flags turn every feature
// off, e.g. Trigger delivery.timeout, which config-features enables), and a Broker's class comes
// from config-br-defaults.
//
// Other kinds are skipped: the API server validates them. Output: one JSON line per Knative object
// {kind, name, ok, errors?, warnings?}. Exit 0 if all pass, 1 if any fails, 2 on bad input.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/configmap"
	knjson "knative.dev/pkg/webhook/json"

	eventingconfig "knative.dev/eventing/pkg/apis/config"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/apis/feature"
	channelconfig "knative.dev/eventing/pkg/apis/messaging/config"
	pingconfig "knative.dev/eventing/pkg/apis/sources/config"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingconfig "knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

type knativeObject interface {
	apis.Defaultable
	apis.Validatable
}

type result struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Errors   string `json:"errors,omitempty"`
	Warnings string `json:"warnings,omitempty"`
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

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "validate: "+format+"\n", args...)
	os.Exit(2)
}

// storeLogger is the configmap.Logger the stores report to: a ConfigMap they cannot parse is
// bad input (exit 2), never a validation failure.
type storeLogger struct{}

func (storeLogger) Debugf(string, ...any)        {}
func (storeLogger) Infof(string, ...any)         {}
func (storeLogger) Errorf(f string, args ...any) { fail(f, args...) }
func (storeLogger) Fatalf(f string, args ...any) { fail(f, args...) }

// configMaps reads every ConfigMap in the YAML files of dir.
func configMaps(dir string) []*corev1.ConfigMap {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		fail("no ConfigMap YAML in %s", dir)
	}
	var cms []*corev1.ConfigMap
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			fail("%v", err)
		}
		eachDocument(f, file, func(doc []byte) {
			var cm corev1.ConfigMap
			if err := yaml.Unmarshal(doc, &cm); err != nil {
				fail("parsing %s: %v", file, err)
			}
			if cm.Kind == "ConfigMap" {
				cms = append(cms, &cm)
			}
		})
		f.Close()
	}
	return cms
}

// eachDocument calls fn with every non-empty document of a multi-document YAML stream.
func eachDocument(r io.Reader, name string, fn func(doc []byte)) {
	docs := yaml.NewYAMLReader(bufio.NewReader(r))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fail("reading %s: %v", name, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			fn(doc)
		}
	}
}

// watch loads a config store from the ConfigMaps as the webhook's informer-backed watcher would.
func watch(store interface{ WatchConfigs(configmap.Watcher) }, dir string, cms []*corev1.ConfigMap) {
	defer func() {
		// StaticWatcher panics on a ConfigMap it does not have: say which, and where we looked.
		if r := recover(); r != nil {
			fail("%s: %v", dir, r)
		}
	}()
	store.WatchConfigs(configmap.NewStaticWatcher(cms...))
}

// webhookContext decorates ctx as serving's and eventing's webhooks do (their cmd/webhook ctxFunc).
func webhookContext(servingDir, eventingDir string) context.Context {
	ctx := context.Background()

	serving := servingconfig.NewStore(storeLogger{})
	watch(serving, servingDir, configMaps(servingDir))
	ctx = serving.ToContext(ctx)

	eventingCMs := configMaps(eventingDir)
	defaults := eventingconfig.NewStore(storeLogger{})
	watch(defaults, eventingDir, eventingCMs)
	channels := channelconfig.NewStore(storeLogger{})
	watch(channels, eventingDir, eventingCMs)
	pings := pingconfig.NewStore(storeLogger{})
	watch(pings, eventingDir, eventingCMs)
	features := feature.NewStore(storeLogger{})
	watch(features, eventingDir, eventingCMs)
	ctx = features.ToContext(channels.ToContext(pings.ToContext(defaults.ToContext(ctx))))

	// Every admission request carries its user; the defaulters record it as creator.
	return apis.WithUserInfo(ctx, &authenticationv1.UserInfo{Username: "podcount-validate"})
}

func validate(ctx context.Context, doc []byte, out *json.Encoder) (handled, ok bool) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		fail("parsing a document: %v", err)
	}
	obj := newObject(meta.APIVersion, meta.Kind)
	if obj == nil {
		return false, true
	}
	r := result{Kind: meta.Kind, Name: meta.Metadata.Name, OK: true}
	raw, err := yaml.ToJSON(doc)
	if err != nil {
		fail("%s %s: %v", meta.Kind, meta.Metadata.Name, err)
	}
	if err := knjson.Decode(raw, obj, true); err != nil {
		r.OK, r.Errors = false, err.Error()
	} else {
		ctx = apis.WithinCreate(ctx)
		obj.SetDefaults(ctx)
		if fe := obj.Validate(ctx); fe != nil {
			if errs := fe.Filter(apis.ErrorLevel); errs != nil {
				r.OK, r.Errors = false, errs.Error()
			}
			if warnings := fe.Filter(apis.WarningLevel); warnings != nil {
				r.Warnings = warnings.Error()
			}
		}
	}
	_ = out.Encode(r)
	return true, r.OK
}

func main() {
	servingDir := flag.String("serving-config", "", "knative.dev/serving's config/core/configmaps (config-defaults, config-features, config-autoscaler)")
	eventingDir := flag.String("eventing-config", "", "knative.dev/eventing's config/core/configmaps (config-br-defaults, default-ch-webhook, config-ping-defaults, config-features)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: validate -serving-config DIR -eventing-config DIR [FILE ...]  (no FILE or \"-\": stdin)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *servingDir == "" || *eventingDir == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx := webhookContext(*servingDir, *eventingDir)

	inputs := flag.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	out := json.NewEncoder(os.Stdout)
	failed, seen := false, 0
	for _, input := range inputs {
		var r io.Reader = os.Stdin
		if input != "-" {
			f, err := os.Open(input)
			if err != nil {
				fail("%v", err)
			}
			defer f.Close()
			r = f
		}
		eachDocument(r, input, func(doc []byte) {
			handled, ok := validate(ctx, doc, out)
			if handled {
				seen++
			}
			failed = failed || !ok
		})
	}
	if seen == 0 {
		// Almost certainly the wrong input (an empty render, a wrong path): not a pass.
		fail("no Knative object in the input")
	}
	if failed {
		os.Exit(1)
	}
}
