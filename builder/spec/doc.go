// Package spec is kiln's profile format: the typed Profile, a strict YAML
// decoder (an unknown or misspelled key is an error naming the file, line
// and key), `extends:` inheritance, and Validate, whose messages name the
// field and say what is allowed.
//
//	p, err := spec.Load(ctx, spec.LoadOptions{}, "node.yaml")
//	if err != nil {
//		return err // e.g. node.yaml:7: repos[0]: unknown field "baseurls" (did you mean "baseurl"?)
//	}
//	fmt.Println(p.Name, p.Packages)
package spec
