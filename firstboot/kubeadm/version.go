package kubeadm

import (
	"fmt"
	"strconv"
	"strings"
)

// The kubeadm configuration API versions Render writes.
const (
	APIVersionV1Beta3 = "kubeadm.k8s.io/v1beta3"
	APIVersionV1Beta4 = "kubeadm.k8s.io/v1beta4"
)

// Version is a Kubernetes release version, vMAJOR.MINOR.PATCH.
type Version struct {
	Major, Minor, Patch int
}

// ParseVersion parses "v1.34.4" or "1.34.4". Pre-release and build suffixes are refused:
// kiln installs released packages only.
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(s, "v")
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("%w: kubernetesVersion %q: want vMAJOR.MINOR.PATCH, e.g. v1.34.4", ErrInvalidParams, s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p != strconv.Itoa(v) {
			return Version{}, fmt.Errorf("%w: kubernetesVersion %q: want vMAJOR.MINOR.PATCH, e.g. v1.34.4", ErrInvalidParams, s)
		}
		n[i] = v
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2]}, nil
}

// String returns the version as kubeadm writes it: v1.34.4.
func (v Version) String() string {
	return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// AtLeast reports whether v is minor version 1.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// APIVersion returns the kubeadm configuration API version kiln writes for Kubernetes v:
// v1beta3 for 1.22 to 1.30, v1beta4 from 1.31 (where kubeadm deprecated v1beta3). Versions
// before 1.22 speak only v1beta2, which kiln does not write.
func APIVersion(v Version) (string, error) {
	switch {
	case v.Major != 1 || !v.AtLeast(1, 22):
		return "", fmt.Errorf("%w: kubernetesVersion %s is not supported: kiln renders kubeadm configuration for Kubernetes 1.22 and later", ErrInvalidParams, v)
	case v.AtLeast(1, 31):
		return APIVersionV1Beta4, nil
	default:
		return APIVersionV1Beta3, nil
	}
}
