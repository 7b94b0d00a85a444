package vsphere

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
)

// Client is a vCenter session bound to one datacenter, with the placement
// settings new VMs follow.
type Client struct {
	vim      *vim25.Client
	settings Settings
	finder   *find.Finder
	dc       *object.Datacenter
	session  *session.Manager // set when Connect logged in; Close logs out
}

// Connect logs in to vCenter as Settings say and finds the datacenter.
// Errors name the setting at fault and never hold the password.
func Connect(ctx context.Context, s Settings) (*Client, error) {
	u, user, pass, err := s.endpoint()
	if err != nil {
		return nil, err
	}
	sc := soap.NewClient(u, s.Insecure)
	if s.CACerts != "" {
		if err := sc.SetRootCAs(s.CACerts); err != nil {
			return nil, &SettingError{Field: "CACerts", Value: s.CACerts, Err: err}
		}
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, connectError(u, "connecting to "+u.String(), err)
	}
	sm := session.NewManager(vc)
	if err := sm.Login(ctx, url.UserPassword(user, string(pass))); err != nil {
		return nil, connectError(u, fmt.Sprintf("logging in to %s as %s", u, user), err)
	}
	c, err := NewClient(ctx, vc, s)
	if err != nil {
		_ = sm.Logout(context.WithoutCancel(ctx))
		return nil, err
	}
	c.session = sm
	return c, nil
}

// CertificateError is vCenter's TLS certificate failing verification: signed
// by a CA this host does not trust, or not for the name in the URL.
type CertificateError struct {
	Doing string // "connecting to https://vc.example.com/sdk"
	Err   error
}

func (e *CertificateError) Error() string {
	return fmt.Sprintf("%s: vCenter's certificate is not trusted: %v (trust the CA that signed it with GOVC_TLS_CA_CERTS=FILE.pem, or skip the check with GOVC_INSECURE=1 on a test system)", e.Doing, e.Err)
}

func (e *CertificateError) Unwrap() error { return e.Err }

func connectError(u *url.URL, doing string, err error) error {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return &CertificateError{Doing: doing, Err: certCause(err)}
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// certCause is the verification error itself, without the URL and method
// net/http wraps it in.
func certCause(err error) error {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) && cv.Err != nil {
		return cv.Err
	}
	return err
}

// NewClient uses an existing, logged-in vim25 client; only the placement
// fields of s matter. Close does not log it out.
func NewClient(ctx context.Context, vc *vim25.Client, s Settings) (*Client, error) {
	f := find.NewFinder(vc, false)
	var dc *object.Datacenter
	var err error
	if s.Datacenter == "" {
		dc, err = f.DefaultDatacenter(ctx)
	} else {
		dc, err = f.Datacenter(ctx, s.Datacenter)
	}
	if err != nil {
		return nil, &SettingError{Field: "Datacenter", Value: s.Datacenter, Err: findError(err)}
	}
	f.SetDatacenter(dc)
	return &Client{vim: vc, settings: s, finder: f, dc: dc}, nil
}

// Close logs out when Connect logged in.
func (c *Client) Close(ctx context.Context) error {
	if c.session == nil {
		return nil
	}
	if err := c.session.Logout(ctx); err != nil {
		return fmt.Errorf("logging out: %w", err)
	}
	c.vim.CloseIdleConnections()
	return nil
}

// Datacenter is the inventory path of the datacenter in use.
func (c *Client) Datacenter() string { return c.dc.InventoryPath }

// ErrNotFound is wrapped by errors about an inventory object that does not
// exist.
var ErrNotFound = errors.New("not found")

// findError turns govmomi finder errors into plain words.
func findError(err error) error {
	var nf *find.NotFoundError
	var dnf *find.DefaultNotFoundError
	var mf *find.MultipleFoundError
	var dmf *find.DefaultMultipleFoundError
	switch {
	case errors.As(err, &nf), errors.As(err, &dnf):
		return ErrNotFound
	case errors.As(err, &mf):
		return errors.New("names more than one object; give its full inventory path")
	case errors.As(err, &dmf):
		return errors.New("there is more than one; say which")
	}
	return err
}

// placement is where new VMs go, resolved from the settings.
type placement struct {
	folder  *object.Folder
	pool    *object.ResourcePool
	ds      *object.Datastore
	network object.NetworkReference // nil when not asked for
}

// place resolves the settings' folder, resource pool and datastore, and the
// network when network is set (upload always maps its network; clone only
// when the setting is given).
func (c *Client) place(ctx context.Context, needNetwork bool) (*placement, error) {
	s := c.settings
	p := &placement{}
	var err error
	if p.folder, err = c.vmFolder(ctx); err != nil {
		return nil, err
	}
	if s.ResourcePool == "" {
		p.pool, err = c.finder.DefaultResourcePool(ctx)
	} else {
		p.pool, err = c.finder.ResourcePool(ctx, s.ResourcePool)
	}
	if err != nil {
		return nil, &SettingError{Field: "ResourcePool", Value: s.ResourcePool, Err: findError(err)}
	}
	if s.Datastore == "" {
		p.ds, err = c.finder.DefaultDatastore(ctx)
	} else {
		p.ds, err = c.finder.Datastore(ctx, s.Datastore)
	}
	if err != nil {
		return nil, &SettingError{Field: "Datastore", Value: s.Datastore, Err: findError(err)}
	}
	if needNetwork || s.Network != "" {
		if s.Network == "" {
			p.network, err = c.finder.DefaultNetwork(ctx)
		} else {
			p.network, err = c.finder.Network(ctx, s.Network)
		}
		if err != nil {
			return nil, &SettingError{Field: "Network", Value: s.Network, Err: findError(err)}
		}
	}
	return p, nil
}

// vmFolder is the settings' folder, or the datacenter's VM folder.
func (c *Client) vmFolder(ctx context.Context) (*object.Folder, error) {
	if c.settings.Folder == "" {
		fs, err := c.dc.Folders(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the folders of %s: %w", c.dc.InventoryPath, err)
		}
		return fs.VmFolder, nil
	}
	f, err := c.finder.Folder(ctx, c.settings.Folder)
	if err != nil {
		return nil, &SettingError{Field: "Folder", Value: c.settings.Folder, Err: findError(err)}
	}
	return f, nil
}
