package vsphere

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/vmware/govmomi/vim25/soap"
)

// Secret is a string that never shows itself: fmt, %v of a struct holding
// it, JSON and slog all print "<redacted>". Use string(s) to read it.
type Secret string

const redacted = "<redacted>"

func (Secret) String() string                  { return redacted }
func (Secret) GoString() string                { return `"` + redacted + `"` }
func (Secret) MarshalJSON() ([]byte, error)    { return []byte(`"` + redacted + `"`), nil }
func (Secret) MarshalText() ([]byte, error)    { return []byte(redacted), nil }
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, redacted) }

// Settings say which vCenter to use and where new VMs go. Each field is the
// govc environment variable of the same meaning, so a shell set up for govc
// works unchanged (SettingsFromEnv).
type Settings struct {
	// URL of vCenter (GOVC_URL): "vc.example.com", "vc.example.com:8443"
	// or "https://vc.example.com/sdk". User and password in it are taken
	// as Username and Password when those are empty.
	URL      string
	Username string // GOVC_USERNAME
	Password Secret // GOVC_PASSWORD
	// Insecure skips the check of vCenter's certificate (GOVC_INSECURE).
	Insecure bool
	// CACerts is a PEM file of CAs to trust (GOVC_TLS_CA_CERTS).
	CACerts string
	// Placement (GOVC_DATACENTER, GOVC_DATASTORE, GOVC_NETWORK,
	// GOVC_RESOURCE_POOL, GOVC_FOLDER): names or inventory paths, as govc
	// takes them. Empty means the only one there is, as govc's default.
	// Folder also bounds where kiln looks for VMs by name (not where Clone
	// looks for a cluster's nodes by identity: the whole datacenter).
	Datacenter   string
	Datastore    string
	Network      string
	ResourcePool string
	Folder       string
}

// plain is Settings without its methods, for Format and MarshalJSON.
type plain Settings

func (s Settings) redacted() plain {
	p := plain(s)
	p.URL = Redact(s.URL)
	return p
}

// Format prints the settings with the URL's credentials and the password
// left out, whatever the verb.
func (s Settings) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.redacted())
}

// MarshalJSON writes the settings without credentials.
func (s Settings) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// The environment variables SettingsFromEnv reads, by Settings field.
var settingEnv = map[string]string{
	"URL": "GOVC_URL", "Username": "GOVC_USERNAME", "Password": "GOVC_PASSWORD",
	"Insecure": "GOVC_INSECURE", "CACerts": "GOVC_TLS_CA_CERTS",
	"Datacenter": "GOVC_DATACENTER", "Datastore": "GOVC_DATASTORE", "Network": "GOVC_NETWORK",
	"ResourcePool": "GOVC_RESOURCE_POOL", "Folder": "GOVC_FOLDER",
}

// EnvName returns the govc environment variable of a Settings field
// ("Datastore" -> "GOVC_DATASTORE").
func EnvName(field string) string { return settingEnv[field] }

// SettingsFromEnv reads the govc variables through getenv (os.Getenv, or
// a map in tests). As in govc, GOVC_INSECURE is true when "1" or "true",
// and a GOVC_PASSWORD naming a readable file means that file's content.
func SettingsFromEnv(getenv func(string) string) Settings {
	s := Settings{
		URL:          getenv("GOVC_URL"),
		Username:     getenv("GOVC_USERNAME"),
		Password:     Secret(getenv("GOVC_PASSWORD")),
		CACerts:      getenv("GOVC_TLS_CA_CERTS"),
		Datacenter:   getenv("GOVC_DATACENTER"),
		Datastore:    getenv("GOVC_DATASTORE"),
		Network:      getenv("GOVC_NETWORK"),
		ResourcePool: getenv("GOVC_RESOURCE_POOL"),
		Folder:       getenv("GOVC_FOLDER"),
	}
	switch strings.ToLower(getenv("GOVC_INSECURE")) {
	case "1", "true":
		s.Insecure = true
	}
	s.Password = passwordFile(s.Password)
	return s
}

// passwordFile follows govc: a password that names a readable file is
// replaced by the file's content, trimmed.
func passwordFile(p Secret) Secret {
	if p == "" || strings.ContainsRune(string(p), 0) {
		return p
	}
	b, err := os.ReadFile(string(p))
	if err != nil {
		return p
	}
	return Secret(strings.TrimSpace(string(b)))
}

// SettingError is a setting that is missing or names nothing in vCenter.
type SettingError struct {
	Field string // Settings field, e.g. "Datastore"
	Value string // what it was set to ("" when unset)
	Err   error
}

func (e *SettingError) Error() string {
	what := strings.ToLower(e.Field)
	if e.Field == "ResourcePool" {
		what = "resource pool"
	}
	if e.Value == "" {
		return fmt.Sprintf("%s (%s unset): %v", what, EnvName(e.Field), e.Err)
	}
	return fmt.Sprintf("%s %q (%s): %v", what, e.Value, EnvName(e.Field), e.Err)
}

func (e *SettingError) Unwrap() error { return e.Err }

// endpoint parses URL into the SDK URL without credentials, and the user
// name and password to log in with (Username and Password win over the
// URL's own).
func (s Settings) endpoint() (u *url.URL, user string, pass Secret, err error) {
	if s.URL == "" {
		return nil, "", "", &SettingError{Field: "URL", Err: errors.New("no vCenter URL")}
	}
	u, err = soap.ParseURL(s.URL)
	if err != nil {
		return nil, "", "", &SettingError{Field: "URL", Value: Redact(s.URL), Err: errors.New("not a URL")}
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, "", "", &SettingError{Field: "URL", Value: Redact(s.URL), Err: errors.New("want an https:// URL")}
	}
	user, pass = s.Username, s.Password
	if u.User != nil {
		if user == "" {
			user = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && pass == "" {
			pass = Secret(p)
		}
	}
	u.User = nil
	if user == "" {
		return nil, "", "", &SettingError{Field: "Username", Err: errors.New("no user name to log in with")}
	}
	if pass == "" {
		return nil, "", "", &SettingError{Field: "Password", Err: errors.New("no password to log in with")}
	}
	return u, user, pass, nil
}

// Endpoint is the vCenter URL to show a user: the SDK URL with any
// credentials removed.
func (s Settings) Endpoint() string {
	u, err := soap.ParseURL(s.URL)
	if err != nil || u == nil {
		return Redact(s.URL)
	}
	u.User = nil
	return u.String()
}

// Redact removes the user information from a URL-like string, also from
// one that does not parse.
func Redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		scheme := ""
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			scheme = raw[:j+3]
		}
		return scheme + raw[i+1:]
	}
	return raw
}
