// Package deploy holds no code: it is the deployment files (container
// image, compose files, systemd unit, Kubernetes manifests, Prometheus
// rules, Grafana dashboard) and the tests that check them against the tools
// that read them (systemd-analyze, promtool) and against a real node (every
// metric a rule or panel uses is served by /metrics; every probe path
// exists and means what the manifest assumes).
package deploy
