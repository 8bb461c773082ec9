// Command check validates Kubernetes manifests offline: each document is
// decoded strictly into its k8s.io/api type (an unknown or misspelt field,
// a wrong type, an unknown kind fails) and checked by the API's own
// validation of required fields where it is cheap (containers, selectors).
// It is its own module so the main module does not depend on k8s.io/api.
//
//	cd deploy/kubernetes/check && go run . ../*.yaml
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigyaml "sigs.k8s.io/yaml"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

func target(tm typeMeta) (any, bool) {
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "v1/Secret":
		return &corev1.Secret{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "batch/v1/Job":
		return &batchv1.Job{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "kustomize.config.k8s.io/v1beta1/Kustomization":
		return nil, true // not a cluster object
	}
	return nil, false
}

func checkPod(where string, spec corev1.PodSpec) error {
	if len(spec.Containers) == 0 {
		return fmt.Errorf("%s: no containers", where)
	}
	for _, c := range spec.Containers {
		if c.Name == "" || c.Image == "" {
			return fmt.Errorf("%s: a container without name or image", where)
		}
	}
	return nil
}

func checkFile(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	dec := yaml.NewYAMLReader(bufioReader(raw))
	n := 0
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var tm typeMeta
		if err := sigyaml.Unmarshal(doc, &tm); err != nil {
			return n, fmt.Errorf("%s document %d: %w", path, n+1, err)
		}
		obj, ok := target(tm)
		if !ok {
			return n, fmt.Errorf("%s document %d: unknown apiVersion/kind %s/%s", path, n+1, tm.APIVersion, tm.Kind)
		}
		n++
		if obj == nil {
			continue
		}
		if err := sigyaml.UnmarshalStrict(doc, obj); err != nil {
			return n, fmt.Errorf("%s %s: %w", path, tm.Kind, err)
		}
		where := path + " " + tm.Kind
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			if o.Spec.Selector == nil || len(o.Spec.Selector.MatchLabels) == 0 {
				return n, fmt.Errorf("%s: no selector", where)
			}
			for k, v := range o.Spec.Selector.MatchLabels {
				if o.Spec.Template.Labels[k] != v {
					return n, fmt.Errorf("%s: selector %s=%s does not match the pod template", where, k, v)
				}
			}
			if err := checkPod(where, o.Spec.Template.Spec); err != nil {
				return n, err
			}
		case *batchv1.Job:
			if err := checkPod(where, o.Spec.Template.Spec); err != nil {
				return n, err
			}
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: check FILE.yaml ...")
		os.Exit(2)
	}
	failed := false
	for _, p := range os.Args[1:] {
		n, err := checkFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL", err)
			failed = true
			continue
		}
		fmt.Printf("ok   %s (%d objects)\n", p, n)
	}
	if failed {
		os.Exit(1)
	}
}
