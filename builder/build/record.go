package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/kiln-build/kiln/builder/buildinfo"
	"net/url"
	"strings"
	"time"

	"github.com/kiln-build/kiln/builder/install"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
)

// Manifest is NAME.manifest.json, next to the outputs: the record plus
// the lock, the outputs' digests and the stage timings.
type Manifest struct {
	buildinfo.Record
	Outputs []Output `json:"outputs"`
	Stages  []Stage  `json:"stages"`
	// Log is the build log's file name (NAME.build.log, beside the
	// manifest): rpm's output with every scriptlet's.
	Log string `json:"log"`
	// ScriptletFailures are the scriptlets rpm reported as failed.
	ScriptletFailures []install.ScriptletFailure `json:"scriptletFailures,omitempty"`
	Lock              *lock.Lock                 `json:"lock"`
}

// Output is one written file.
type Output struct {
	Format spec.Output `json:"format"`
	File   string      `json:"file"`
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256"`
}

// Stage is one step of the build and how long it took.
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// ProfileDigest hashes the profile as kiln resolved it (parents merged,
// defaults applied).
func ProfileDigest(p *spec.Profile) string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SBOM returns an SPDX 2.3 JSON document listing the installed packages.
// Every field comes from the inputs, so it is reproducible.
func SBOM(rec buildinfo.Record, l *lock.Lock, baseURLs map[string][]string) ([]byte, error) {
	type checksum struct {
		Algorithm     string `json:"algorithm"`
		ChecksumValue string `json:"checksumValue"`
	}
	type extRef struct {
		ReferenceCategory string `json:"referenceCategory"`
		ReferenceType     string `json:"referenceType"`
		ReferenceLocator  string `json:"referenceLocator"`
	}
	type pkg struct {
		SPDXID           string     `json:"SPDXID"`
		Name             string     `json:"name"`
		VersionInfo      string     `json:"versionInfo"`
		DownloadLocation string     `json:"downloadLocation"`
		FilesAnalyzed    bool       `json:"filesAnalyzed"`
		LicenseConcluded string     `json:"licenseConcluded"`
		LicenseDeclared  string     `json:"licenseDeclared"`
		CopyrightText    string     `json:"copyrightText"`
		Comment          string     `json:"comment,omitempty"`
		Checksums        []checksum `json:"checksums,omitempty"`
		ExternalRefs     []extRef   `json:"externalRefs,omitempty"`
		PrimaryPurpose   string     `json:"primaryPackagePurpose,omitempty"`
	}
	type rel struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
	doc := struct {
		SPDXVersion       string `json:"spdxVersion"`
		DataLicense       string `json:"dataLicense"`
		SPDXID            string `json:"SPDXID"`
		Name              string `json:"name"`
		DocumentNamespace string `json:"documentNamespace"`
		CreationInfo      struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
		Packages      []pkg `json:"packages"`
		Relationships []rel `json:"relationships"`
	}{SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: rec.Name}
	doc.DocumentNamespace = "https://spdx.kiln.invalid/" + url.PathEscape(rec.Name) + "/" + strings.TrimPrefix(rec.LockDigest, "sha256:")
	doc.CreationInfo.Created = time.Unix(rec.SourceDateEpoch, 0).UTC().Format(time.RFC3339)
	doc.CreationInfo.Creators = []string{"Tool: kiln-" + rec.KilnVersion}
	doc.Packages = append(doc.Packages, pkg{SPDXID: "SPDXRef-Image", Name: rec.Name, VersionInfo: rec.LockDigest,
		DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
		PrimaryPurpose: "OPERATING-SYSTEM"})
	doc.Relationships = append(doc.Relationships, rel{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"})
	for i, p := range l.Packages {
		id := fmt.Sprintf("SPDXRef-Package-%d", i+1)
		evr := p.Version + "-" + p.Release
		if p.Epoch != 0 {
			evr = fmt.Sprintf("%d:%s", p.Epoch, evr)
		}
		purl := fmt.Sprintf("pkg:rpm/%s@%s-%s?arch=%s", url.PathEscape(p.Name), url.PathEscape(p.Version), url.PathEscape(p.Release), p.Arch)
		if p.Epoch != 0 {
			purl += fmt.Sprintf("&epoch=%d", p.Epoch)
		}
		loc := "NOASSERTION"
		if urls := baseURLs[p.Repo]; len(urls) > 0 && strings.HasPrefix(urls[0], "http") {
			loc = strings.TrimRight(urls[0], "/") + "/" + p.Location
		}
		sp := pkg{SPDXID: id, Name: p.Name, VersionInfo: evr, DownloadLocation: loc, LicenseConcluded: "NOASSERTION",
			LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
			ExternalRefs: []extRef{{"PACKAGE-MANAGER", "purl", purl}}}
		if p.License != "" {
			sp.Comment = "rpm License: " + p.License
		}
		if typ, sum, ok := strings.Cut(p.Checksum, ":"); ok {
			switch typ {
			case "sha256":
				sp.Checksums = []checksum{{"SHA256", sum}}
			case "sha512":
				sp.Checksums = []checksum{{"SHA512", sum}}
			case "sha1":
				sp.Checksums = []checksum{{"SHA1", sum}}
			}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, rel{"SPDXRef-Image", "CONTAINS", id})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
