// Command verdict prints MetalLB's verdict on configuration files: for each
// file, "FILE<TAB>accept" or "FILE<TAB>refuse<TAB>why".
//
// It is built inside a copy of MetalLB's own module (scripts/metallb-verdict/build
// puts it at cmd/verdict), so that it runs MetalLB's code itself, not a copy:
//
//  1. the API server's part: each metallb.io object against the CRD of its
//     version in config/crd/bases (OpenAPI schema, CEL rules, unknown fields
//     refused as kubectl's strict field validation does, status dropped as the
//     status subresource does), v1beta1 BGPPeers converted by ConvertTo;
//  2. the webhooks' namespace rule: a metallb.io object outside MetalLB's
//     namespace (-namespace, default metallb-system; an object without one is
//     taken to be in it, as `kubectl apply -n metallb-system` would place it)
//     is refused or, for kinds a webhook lets through, ignored by the
//     controller, which lists its namespace only;
//  3. the controller's whole-config build: config.For in FRR mode over every
//     object, Secrets of the namespace by name, as the config reconciler does.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	sigsyaml "sigs.k8s.io/yaml"

	metallbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	metallbv1beta2 "go.universe.tf/metallb/api/v1beta2"
	"go.universe.tf/metallb/internal/config"
)

type version struct {
	validator  apiservervalidation.SchemaValidator
	structural *structuralschema.Structural
	cel        *cel.Validator
}

// schemas by "kind/version".
var schemas = map[string]version{}

func loadCRDs(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "metallb.io_*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := sigsyaml.UnmarshalStrict(raw, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range crd.Spec.Versions {
			var internal apiextensionsinternal.CustomResourceValidation
			if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, &internal, nil); err != nil {
				return err
			}
			validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
			if err != nil {
				return err
			}
			structural, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
			if err != nil {
				return err
			}
			schemas[crd.Spec.Names.Kind+"/"+v.Name] = version{
				validator:  validator,
				structural: structural,
				cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
			}
		}
	}
	return nil
}

// admit runs the API server's checks on one object; it returns the object as
// stored (defaulted, status dropped).
func admit(obj map[string]interface{}, kind, ver string) (map[string]interface{}, error) {
	s, ok := schemas[kind+"/"+ver]
	if !ok {
		return nil, fmt.Errorf("no CRD serves %s %s", kind, ver)
	}
	delete(obj, "status")
	if meta, ok := obj["metadata"]; ok {
		raw, _ := json.Marshal(meta)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var m struct {
			Name              string            `json:"name"`
			Namespace         string            `json:"namespace"`
			Labels            map[string]string `json:"labels"`
			Annotations       map[string]string `json:"annotations"`
			UID               string            `json:"uid"`
			ResourceVersion   string            `json:"resourceVersion"`
			Generation        int64             `json:"generation"`
			CreationTimestamp interface{}       `json:"creationTimestamp"`
			ManagedFields     interface{}       `json:"managedFields"`
			Finalizers        []string          `json:"finalizers"`
			OwnerReferences   interface{}       `json:"ownerReferences"`
			GenerateName      string            `json:"generateName"`
			SelfLink          string            `json:"selfLink"`
		}
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	if unknown := pruning.PruneWithOptions(obj, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(unknown) > 0 {
		return nil, fmt.Errorf("unknown field(s) %v (kubectl's strict field validation)", unknown)
	}
	structuraldefaulting.Default(obj, s.structural)
	if errs := apiservervalidation.ValidateCustomResource(field.NewPath(""), obj, s.validator); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	errs, _ := s.cel.Validate(context.Background(), field.NewPath(""), s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return obj, nil
}

func into(obj map[string]interface{}, out interface{}) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

func verdict(path, namespace string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res config.ClusterResources
	res.PasswordSecrets = map[string]corev1.Secret{}
	var problems []error
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var obj map[string]interface{}
		if err := dec.Decode(&obj); err != nil {
			if err == io.EOF {
				break
			}
			return fmt.Errorf("YAML: %w", err)
		}
		if obj == nil {
			continue
		}
		// Integers as the API server holds them (int64, not float64), which
		// CEL rules and format checks depend on.
		if raw, err := json.Marshal(obj); err == nil {
			obj = nil
			if err := utiljson.Unmarshal(raw, &obj); err != nil {
				return fmt.Errorf("JSON: %w", err)
			}
		}
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]interface{})
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		ref := kind + "/" + name
		if group, ver, ok := strings.Cut(apiVersion, "/"); ok && group == "metallb.io" {
			stored, err := admit(obj, kind, ver)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: API server: %w", ref, err))
				continue
			}
			if ns != "" && ns != namespace {
				problems = append(problems, fmt.Errorf("%s: in namespace %q, outside %q: refused by the webhook or ignored by the controller", ref, ns, namespace))
				continue
			}
			var decodeErr error
			switch kind + "/" + ver {
			case "IPAddressPool/v1beta1":
				var o metallbv1beta1.IPAddressPool
				decodeErr = into(stored, &o)
				res.Pools = append(res.Pools, o)
			case "BGPPeer/v1beta2":
				var o metallbv1beta2.BGPPeer
				decodeErr = into(stored, &o)
				res.Peers = append(res.Peers, o)
			case "BGPPeer/v1beta1":
				var old metallbv1beta1.BGPPeer
				decodeErr = into(stored, &old)
				var o metallbv1beta2.BGPPeer
				if decodeErr == nil {
					decodeErr = old.ConvertTo(&o)
				}
				// Stored as v1beta2 and read back: defaults of v1beta2 apply.
				if decodeErr == nil {
					var m map[string]interface{}
					b, _ := json.Marshal(o)
					_ = json.Unmarshal(b, &m)
					structuraldefaulting.Default(m, schemas["BGPPeer/v1beta2"].structural)
					o = metallbv1beta2.BGPPeer{}
					decodeErr = into(m, &o)
				}
				res.Peers = append(res.Peers, o)
			case "BFDProfile/v1beta1":
				var o metallbv1beta1.BFDProfile
				decodeErr = into(stored, &o)
				res.BFDProfiles = append(res.BFDProfiles, o)
			case "BGPAdvertisement/v1beta1":
				var o metallbv1beta1.BGPAdvertisement
				decodeErr = into(stored, &o)
				res.BGPAdvs = append(res.BGPAdvs, o)
			case "L2Advertisement/v1beta1":
				var o metallbv1beta1.L2Advertisement
				decodeErr = into(stored, &o)
				res.L2Advs = append(res.L2Advs, o)
			case "Community/v1beta1":
				var o metallbv1beta1.Community
				decodeErr = into(stored, &o)
				res.Communities = append(res.Communities, o)
			default:
				decodeErr = fmt.Errorf("not a configuration kind")
			}
			if decodeErr != nil {
				problems = append(problems, fmt.Errorf("%s: %w", ref, decodeErr))
			}
			continue
		}
		switch apiVersion + " " + kind {
		case "v1 Node":
			var o corev1.Node
			if err := into(obj, &o); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", ref, err))
			}
			res.Nodes = append(res.Nodes, o)
		case "v1 Namespace":
			var o corev1.Namespace
			if err := into(obj, &o); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", ref, err))
			}
			res.Namespaces = append(res.Namespaces, o)
		case "v1 Secret":
			var o corev1.Secret
			if err := into(obj, &o); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", ref, err))
			}
			// A Secret's stringData is written into its data by the API server.
			for k, v := range o.StringData {
				if o.Data == nil {
					o.Data = map[string][]byte{}
				}
				o.Data[k] = []byte(v)
			}
			if ns == "" || ns == namespace {
				res.PasswordSecrets[o.Name] = o
			}
		}
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	sortByName(&res)
	_, err = config.For(res, config.ValidationFor("frr"), config.ForOptions{})
	return err
}

// sortByName orders every list by name, as the controller's toConfig does.
func sortByName(r *config.ClusterResources) {
	sort.SliceStable(r.Pools, func(i, j int) bool { return r.Pools[i].Name < r.Pools[j].Name })
	sort.SliceStable(r.Peers, func(i, j int) bool { return r.Peers[i].Name < r.Peers[j].Name })
	sort.SliceStable(r.BFDProfiles, func(i, j int) bool { return r.BFDProfiles[i].Name < r.BFDProfiles[j].Name })
	sort.SliceStable(r.L2Advs, func(i, j int) bool { return r.L2Advs[i].Name < r.L2Advs[j].Name })
	sort.SliceStable(r.BGPAdvs, func(i, j int) bool { return r.BGPAdvs[i].Name < r.BGPAdvs[j].Name })
	sort.SliceStable(r.Communities, func(i, j int) bool { return r.Communities[i].Name < r.Communities[j].Name })
	sort.SliceStable(r.Nodes, func(i, j int) bool { return r.Nodes[i].Name < r.Nodes[j].Name })
}

func main() {
	crds := flag.String("crds", "config/crd/bases", "MetalLB's CRDs")
	namespace := flag.String("namespace", "metallb-system", "MetalLB's namespace")
	flag.Parse()
	if err := loadCRDs(*crds); err != nil {
		fmt.Fprintln(os.Stderr, "verdict:", err)
		os.Exit(2)
	}
	for _, path := range flag.Args() {
		if err := verdict(path, *namespace); err != nil {
			fmt.Printf("%s\trefuse\t%s\n", path, strings.ReplaceAll(err.Error(), "\n", "; "))
		} else {
			fmt.Printf("%s\taccept\n", path)
		}
	}
}
