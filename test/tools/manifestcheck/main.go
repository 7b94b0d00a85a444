//go:build kiln_tools

// manifestcheck is a test oracle: it checks Kubernetes manifests with the API machinery of
// Kubernetes itself, as the API server (or, for static pods, the kubelet) would.
//
// It is not part of kiln: test/tools/kubeadm/build.sh copies it into the throwaway module
// that builds kubeadm from k8s.io/kubernetes and builds it there, so kiln's own go.mod
// never depends on k8s.io/kubernetes.
//
// usage: manifestcheck [-static-pod] FILE...
//
// Every YAML document in every FILE is decoded strictly (an unknown or duplicated field is
// an error) into its typed API object, defaulted, and validated with the API server's
// validation for that kind. With -static-pod, each FILE must hold exactly one Pod and is also
// held to the kubelet's static pod rules (no references to API objects such as ConfigMaps,
// Secrets or service accounts). It prints one line per document and exits 1 on any error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/policy"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	policyvalidation "k8s.io/kubernetes/pkg/apis/policy/validation"
	"k8s.io/kubernetes/pkg/apis/rbac"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
	"k8s.io/kubernetes/pkg/capabilities"
)

func main() {
	staticPod := flag.Bool("static-pod", false, "each file is one static pod manifest")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: manifestcheck [-static-pod] FILE...")
		os.Exit(2)
	}

	// As kubeadm's API servers (--allow-privileged=true) and the kubelet do: privileged
	// containers are allowed.
	capabilities.Setup(true, 0)

	scheme := legacyscheme.Scheme
	apiextensionsinstall.Install(scheme)
	codecs := serializer.NewCodecFactory(scheme)
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	internal := codecs.UniversalDecoder()

	failed := false
	for _, file := range flag.Args() {
		docs, err := documents(file)
		if err != nil {
			fmt.Printf("%s: %v\n", file, err)
			failed = true
			continue
		}
		if *staticPod && len(docs) != 1 {
			fmt.Printf("%s: a static pod manifest holds one document, this one has %d\n", file, len(docs))
			failed = true
		}
		for i, doc := range docs {
			what, err := check(doc, strict, internal, *staticPod)
			if err != nil {
				fmt.Printf("%s: document %d: %s: %v\n", file, i+1, what, err)
				failed = true
				continue
			}
			fmt.Printf("%s: document %d: %s: ok\n", file, i+1, what)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// documents splits a YAML stream into its non-empty documents.
func documents(file string) ([][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

func check(doc []byte, strict runtime.Decoder, internal runtime.Decoder, staticPod bool) (string, error) {
	obj, gvk, err := strict.Decode(doc, nil, nil)
	if err != nil {
		return "?", fmt.Errorf("strict decoding: %w", err)
	}
	what := gvk.Kind
	if m, ok := obj.(interface{ GetName() string }); ok {
		what += "/" + m.GetName()
	}
	in, _, err := internal.Decode(doc, nil, nil)
	if err != nil {
		return what, fmt.Errorf("decoding to the internal version: %w", err)
	}
	var errs field.ErrorList
	switch o := in.(type) {
	case *core.Pod:
		if staticPod && o.Namespace == "" {
			o.Namespace = "default" // as the kubelet does before validating
		}
		errs = corevalidation.ValidatePodCreate(o, corevalidation.PodValidationOptions{})
		if staticPod {
			if _, ref, err := podutil.HasAPIObjectReference(o); err != nil {
				return what, err
			} else if ref != "" {
				return what, fmt.Errorf("static pods may not reference %s", ref)
			}
		}
	case *core.ConfigMap:
		errs = corevalidation.ValidateConfigMap(o)
	case *core.ServiceAccount:
		errs = corevalidation.ValidateServiceAccount(o)
	case *core.Namespace:
		errs = corevalidation.ValidateNamespace(o)
	case *apps.DaemonSet:
		errs = appsvalidation.ValidateDaemonSet(o, corevalidation.PodValidationOptions{})
	case *apps.Deployment:
		errs = appsvalidation.ValidateDeployment(o, corevalidation.PodValidationOptions{})
	case *rbac.ClusterRole:
		errs = rbacvalidation.ValidateClusterRole(o, rbacvalidation.ClusterRoleValidationOptions{})
	case *rbac.ClusterRoleBinding:
		errs = rbacvalidation.ValidateClusterRoleBinding(o)
	case *rbac.Role:
		errs = rbacvalidation.ValidateRole(o)
	case *rbac.RoleBinding:
		errs = rbacvalidation.ValidateRoleBinding(o)
	case *policy.PodDisruptionBudget:
		errs = policyvalidation.ValidatePodDisruptionBudget(o, policyvalidation.PodDisruptionBudgetValidationOptions{})
	case *apiextensionsinternal.CustomResourceDefinition:
		errs = apiextensionsvalidation.ValidateCustomResourceDefinition(context.Background(), o)
	default:
		return what, fmt.Errorf("manifestcheck has no validation for %T", in)
	}
	if staticPod {
		if _, ok := in.(*core.Pod); !ok {
			return what, fmt.Errorf("a static pod manifest must hold a Pod")
		}
	}
	if len(errs) > 0 {
		return what, errs.ToAggregate()
	}
	return what, nil
}
