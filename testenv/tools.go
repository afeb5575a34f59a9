//go:build tools

// Package tools records the main packages this module exists to build, so
// that `go mod tidy` keeps their dependencies in go.mod and go.sum. The build
// tag keeps it out of every normal build (a main package cannot be imported);
// scripts/testenv-build.sh builds the packages themselves with `go build`.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
