// Package document reads kiln/v1 documents — profiles, node metadata,
// cluster bundles — with one strict reader, and holds kiln's one user-error
// type.
//
// A person writes these documents by hand or by template, so every mistake
// is reported against what they wrote: the file, the line and the field
// path (repos[0].baseurl, cluster.controlPlane.peers[2].address,
// sysctl["net.ipv4.ip_forward"]). The reader refuses what a lenient YAML
// decoder would quietly accept: an unknown or repeated key, "yes" for a
// boolean, a number where a list belongs, a second document, anchors and
// aliases (which can expand a small document into a very large one, and
// node metadata comes from a hypervisor a guest does not control).
//
// Validation that needs the whole document builds a List of *Error values
// and looks their lines up in the Lines that Decode returned:
//
//	var p Profile
//	lines, err := document.Decode("node.yaml", data, &p)
//	if err != nil {
//		return err // a *document.Error: node.yaml:6: repos[0].baseurls: unknown field (did you mean "baseurl"?)
//	}
//	var errs document.List
//	if p.Name == "" {
//		errs.Add("name", "a name is needed")
//	}
//	return errs.Locate("node.yaml", lines).Err()
//
// Commands tell a user's mistake from a failure with errors.As and an
// *Error, and exit with their documented code for bad input.
package document
