// Pins the CloudEvents conformance material the event tests replay (cloudevents/conformance):
// no Go code uses it; `go mod download -json` fetches it into the Go module cache and says where.
// v0.4.1 is the newest version the Go module proxy serves here; the format/json fixtures
// (valid-events.json, invalid-events.json) were added after it and are in no served version.
module podcount/test/conformance

go 1.26.0

require github.com/cloudevents/conformance v0.4.1
