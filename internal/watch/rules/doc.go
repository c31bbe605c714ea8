// Package rules tests the Prometheus alert rules shipped in
// deploy/prometheus/embassy-rules.yml; it has no code of its own.
package rules
