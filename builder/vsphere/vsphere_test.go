package vsphere

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/vsphere/ovafile"
	"github.com/kiln-build/kiln/builder/vsphere/vspheretest"
	"github.com/kiln-build/kiln/firstboot/platform/vmware"
)

func simSettings(sim *vspheretest.Sim) Settings {
	return Settings{
		URL: sim.URL, Username: vspheretest.Username, Password: vspheretest.Password, Insecure: true,
		Datacenter: vspheretest.Datacenter, Datastore: vspheretest.Datastore,
		Network: vspheretest.Network, ResourcePool: vspheretest.ResourcePool,
	}
}

// recorder keeps the clone requests a client sends.
type recorder struct {
	soap.RoundTripper
	mu     sync.Mutex
	clones map[string]types.VirtualMachineCloneSpec
}

func (r *recorder) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	if b, ok := req.(*methods.CloneVM_TaskBody); ok {
		r.mu.Lock()
		r.clones[b.Req.Name] = b.Req.Spec
		r.mu.Unlock()
	}
	return r.RoundTripper.RoundTrip(ctx, req, res)
}

func connect(t *testing.T, sim *vspheretest.Sim, edit ...func(*Settings)) (*Client, *recorder) {
	t.Helper()
	s := simSettings(sim)
	for _, e := range edit {
		e(&s)
	}
	c, err := Connect(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	rec := &recorder{RoundTripper: c.vim.RoundTripper, clones: map[string]types.VirtualMachineCloneSpec{}}
	c.vim.RoundTripper = rec
	return c, rec
}

func openOVA(t *testing.T, path string) *ovafile.Archive {
	t.Helper()
	a, err := ovafile.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func extraOf(t *testing.T, sim *vspheretest.Sim, name string) map[string]string {
	t.Helper()
	vm := sim.VM(t, name)
	out := map[string]string{}
	for _, o := range vm.Config.ExtraConfig {
		ov := o.GetOptionValue()
		out[ov.Key], _ = ov.Value.(string)
	}
	return out
}

func TestKeysMatchTheAgent(t *testing.T) {
	for got, want := range map[string]string{KeyMetadata: vmware.KeyMetadata, KeyEncoding: vmware.KeyEncoding, KeyStatus: vmware.KeyStatus} {
		if got != want {
			t.Errorf("key %q, the agent reads %q", got, want)
		}
	}
}

func TestSettingsFromEnv(t *testing.T) {
	env := map[string]string{
		"GOVC_URL": "https://admin:url-pw@vc.example.com/sdk", "GOVC_INSECURE": "1", "GOVC_DATACENTER": "dc1",
		"GOVC_DATASTORE": "ds1", "GOVC_NETWORK": "net1", "GOVC_RESOURCE_POOL": "pool1", "GOVC_FOLDER": "f1",
	}
	s := SettingsFromEnv(func(k string) string { return env[k] })
	if !s.Insecure || s.Datacenter != "dc1" || s.Datastore != "ds1" || s.Network != "net1" || s.ResourcePool != "pool1" || s.Folder != "f1" {
		t.Errorf("settings %+v", s)
	}
	u, user, pass, err := s.endpoint()
	if err != nil || user != "admin" || pass != "url-pw" || u.User != nil || u.String() != "https://vc.example.com/sdk" {
		t.Errorf("endpoint %v %q %q %v", u, user, pass, err)
	}
	env["GOVC_USERNAME"], env["GOVC_PASSWORD"] = "other", "env-pw"
	s = SettingsFromEnv(func(k string) string { return env[k] })
	if _, user, pass, _ := s.endpoint(); user != "other" || pass != "env-pw" {
		t.Errorf("GOVC_USERNAME/PASSWORD do not win over the URL: %q %q", user, pass)
	}
	js, _ := json.Marshal(s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), s.Endpoint(), string(js), fmt.Sprint(&s)} {
		if strings.Contains(out, "env-pw") || strings.Contains(out, "url-pw") {
			t.Errorf("password printed: %s", out)
		}
	}
	if got := Redact("https://u:p@h/sdk"); got != "https://h/sdk" {
		t.Errorf("Redact = %q", got)
	}
	if got := Redact("u:p@h:bad port"); strings.Contains(got, "p@") {
		t.Errorf("Redact of a bad URL = %q", got)
	}
	if _, _, _, err := (Settings{URL: "vc"}).endpoint(); err == nil || !strings.Contains(err.Error(), "GOVC_USERNAME") {
		t.Errorf("no user: %v", err)
	}
}

func TestConnectErrorsHideThePassword(t *testing.T) {
	sim := vspheretest.Start(t)
	ctx := context.Background()
	s := simSettings(sim)
	s.Password = "wrong-" + vspheretest.Password
	_, err := Connect(ctx, s)
	if err == nil || strings.Contains(err.Error(), string(s.Password)) || !strings.Contains(err.Error(), "logging in to") {
		t.Errorf("wrong password: %v", err)
	}
	s = simSettings(sim)
	u, _ := url.Parse(sim.URL)
	u.User = url.UserPassword(vspheretest.Username, vspheretest.Password)
	s.URL = u.String()
	s.Username, s.Password = "", ""
	c, err := Connect(ctx, s)
	if err != nil {
		t.Fatalf("credentials in the URL: %v", err)
	}
	c.Close(ctx)
	s.URL = "https://user:" + vspheretest.Password + "@127.0.0.1:1/sdk"
	_, err = Connect(ctx, s)
	if err == nil || strings.Contains(err.Error(), vspheretest.Password) {
		t.Errorf("unreachable vCenter: %v", err)
	}
	s = simSettings(sim)
	s.Datacenter = "DC9"
	_, err = Connect(ctx, s)
	var se *SettingError
	if !errors.As(err, &se) || se.Field != "Datacenter" || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `datacenter "DC9" (GOVC_DATACENTER): not found`) {
		t.Errorf("missing datacenter: %v", err)
	}
}
