package config_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/firstboot/config"
)

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestErrorNamesFieldAndLine(t *testing.T) {
	doc := strings.Replace(string(readFixture(t, "testdata/valid/worker-dhcp.yaml")), "10.31.100.63", "10.0.0.300", 1)
	_, err := config.Parse([]byte(doc))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse error %v is not a *config.Error", err)
	}
	if ce.Field != "cluster.controlPlane.peers[2].address" || ce.Line != 15 || ce.Msg != `"10.0.0.300" is not an IP address` {
		t.Errorf("got %+v", ce)
	}
	if got, want := err.Error(), `line 15: cluster.controlPlane.peers[2].address: "10.0.0.300" is not an IP address`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestErrorsListsEveryMistake(t *testing.T) {
	_, err := config.Parse(readFixture(t, "testdata/invalid/many-mistakes.yaml"))
	errs := config.Errors(err)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	want := "cluster.kubernetesVersion cluster.controlPlane.peers[2].address node.role"
	if got := strings.Join(fields, " "); got != want {
		t.Errorf("fields = %q, want %q", got, want)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Field != "cluster.kubernetesVersion" {
		t.Errorf("errors.As found %+v, want the first error", ce)
	}
	if config.Errors(nil) != nil || config.Errors(errors.New("x")) != nil {
		t.Error("Errors of a non-config error should be nil")
	}
}

func TestValidateWithoutDefaults(t *testing.T) {
	cfg, err := config.Parse(readFixture(t, "testdata/valid/worker-dhcp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a parsed config does not validate: %v", err)
	}
	before, _ := config.MarshalYAML(cfg)
	cfg.SetDefaults()
	if after, _ := config.MarshalYAML(cfg); !bytes.Equal(before, after) {
		t.Error("SetDefaults is not idempotent")
	}
	cfg.Cluster.Networking.PodSubnet = ""
	var ce *config.Error
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Field != "cluster.networking.podSubnet" || ce.Line != 0 {
		t.Errorf("Validate with an empty pod subnet = %v", err)
	}
}

func TestLoadRefusesHugeDocuments(t *testing.T) {
	big := strings.NewReader("# " + strings.Repeat("x", config.MaxDocumentSize) + "\n")
	_, err := config.Load(big)
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "larger than") {
		t.Fatalf("Load(huge) = %v", err)
	}
	cfg, err := config.Load(bytes.NewReader(readFixture(t, "testdata/valid/control-plane-static.yaml")))
	if err != nil || cfg.Node.Name != "m2" {
		t.Fatalf("Load = %v, %v", cfg, err)
	}
}

func TestEncodeDecode(t *testing.T) {
	doc := readFixture(t, "testdata/valid/control-plane-static.yaml")
	for _, enc := range []config.Encoding{config.EncodingNone, config.EncodingBase64, config.EncodingGzipBase64} {
		s, err := config.Encode(doc, enc)
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := config.Encode(doc, enc)
		if s != s2 {
			t.Errorf("Encode(%q) is not deterministic", enc)
		}
		back, err := config.Decode(s, enc)
		if err != nil || !bytes.Equal(back, doc) {
			t.Errorf("Decode(Encode(doc, %q)) = %d bytes, %v", enc, len(back), err)
		}
	}
	// base64 wrapped at 76 columns, as base64(1) prints it, still decodes.
	s, _ := config.Encode(doc, config.EncodingBase64)
	var wrapped strings.Builder
	for i := 0; i < len(s); i += 76 {
		wrapped.WriteString(s[i:min(i+76, len(s))] + "\n")
	}
	if back, err := config.Decode(wrapped.String(), config.EncodingBase64); err != nil || !bytes.Equal(back, doc) {
		t.Errorf("Decode(wrapped base64) = %v", err)
	}
	if _, err := config.Decode("!!!", config.EncodingBase64); err == nil {
		t.Error("Decode accepted bad base64")
	}
}

func TestDecodeBoundsDecompression(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zeros := make([]byte, 1<<20)
	for range config.MaxDocumentSize/len(zeros) + 1 {
		zw.Write(zeros)
	}
	zw.Close()
	_, err := config.Decode(base64.StdEncoding.EncodeToString(b.Bytes()), config.EncodingGzipBase64)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Decode(gzip bomb) = %v", err)
	}
}

func TestParseEncoding(t *testing.T) {
	for in, want := range map[string]config.Encoding{
		"": config.EncodingNone, "base64": config.EncodingBase64, "b64": config.EncodingBase64,
		"gzip+base64": config.EncodingGzipBase64, "gz+b64": config.EncodingGzipBase64, " GZIP+BASE64 ": config.EncodingGzipBase64,
	} {
		if got, err := config.ParseEncoding(in); err != nil || got != want {
			t.Errorf("ParseEncoding(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := config.ParseEncoding("zstd"); err == nil {
		t.Error(`ParseEncoding("zstd") accepted it`)
	}
}

func TestStatusLine(t *testing.T) {
	s := config.Status{Node: "m1", Phase: config.PhaseInit, Message: "kubeadm init", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Elapsed: 97.25}
	line := s.StatusLine()
	if want := `KILN-STATUS {"node":"m1","phase":"init","message":"kubeadm init","time":"2026-01-02T03:04:05Z","elapsed":97.25}`; line != want {
		t.Errorf("StatusLine() = %q, want %q", line, want)
	}
	got, ok, err := config.ParseStatusLine("[   12.345678] " + line + "\r\n")
	if !ok || err != nil || !reflect.DeepEqual(got, s) {
		t.Errorf("ParseStatusLine = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := config.ParseStatusLine("Started kubelet.service"); ok {
		t.Error("ParseStatusLine took an ordinary console line")
	}
	if _, ok, err := config.ParseStatusLine("KILN-STATUS {broken"); !ok || err == nil {
		t.Error("ParseStatusLine accepted broken JSON")
	}
}

// TestCACertHashMatchesOpenSSL checks CACertHash against the recipe in the
// kubeadm documentation.
func TestCACertHashMatchesOpenSSL(t *testing.T) {
	reftest.Tool(t, "openssl")
	pemText := readFixture(t, "testdata/pki/ca.crt")
	cert, err := config.ParseCertificatePEM(string(pemText))
	if err != nil {
		t.Fatal(err)
	}
	want := opensslCAHash(t, "testdata/pki/ca.crt")
	if got := config.CACertHash(cert); got != want {
		t.Errorf("CACertHash = %s, openssl says %s", got, want)
	}
}

// opensslCAHash runs
// openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256.
func opensslCAHash(t *testing.T, certFile string) string {
	t.Helper()
	pub, err := exec.Command("openssl", "x509", "-in", certFile, "-pubkey", "-noout").Output()
	if err != nil {
		t.Fatalf("openssl x509: %v", err)
	}
	cmd := exec.Command("openssl", "pkey", "-pubin", "-outform", "der")
	cmd.Stdin = bytes.NewReader(pub)
	der, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl pkey: %v", err)
	}
	cmd = exec.Command("openssl", "dgst", "-sha256", "-r")
	cmd.Stdin = bytes.NewReader(der)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl dgst: %v", err)
	}
	return "sha256:" + strings.Fields(string(out))[0]
}

func TestParseKeyForms(t *testing.T) {
	key := string(readFixture(t, "testdata/pki/ca.key"))
	if _, err := config.ParsePrivateKeyPEM(key); err != nil {
		t.Errorf("EC PRIVATE KEY: %v", err)
	}
	if _, err := config.ParsePrivateKeyPEM(key + key); err == nil {
		t.Error("two keys accepted")
	}
	if _, err := config.ParsePrivateKeyPEM(string(readFixture(t, "testdata/pki/ca.crt"))); err == nil {
		t.Error("a certificate accepted as a key")
	}
	if _, err := config.ParsePublicKeyPEM(string(readFixture(t, "testdata/pki/sa.pub"))); err != nil {
		t.Errorf("PUBLIC KEY: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/valid/worker-dhcp.yaml", "testdata/valid/control-plane-external-calico.json", "testdata/invalid/anchor-alias.yaml", "testdata/valid/worker-ignition-mapping.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *config.Error: %v", err)
			}
			return
		}
		out, err := config.MarshalYAML(cfg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := config.Parse(out)
		if err != nil {
			t.Fatalf("re-parsing the marshalled config: %v\n%s", err, out)
		}
		if out2, _ := config.MarshalYAML(again); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the document")
		}
	})
}

func TestSeconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{1500 * time.Millisecond, 1.5},
		{41*time.Second + 123456789, 41.123},
		{2*time.Hour + 500*time.Microsecond, 7200.001},
		{-3 * time.Second, 0},
	} {
		if got := config.Seconds(c.d); got != c.want {
			t.Errorf("Seconds(%s) = %v, want %v", c.d, got, c.want)
		}
	}
}

func TestFinalStatusRoundTrips(t *testing.T) {
	s := config.Status{Node: "w1", Phase: config.PhaseDone, Message: "ready: node w1 is a Ready worker", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Elapsed: 130.5,
		Timings:    []config.StepTiming{{Step: "images", Phase: config.PhaseHost, Start: 12, End: 53.25, Seconds: 41.25, Attempts: 1}},
		Milestones: map[string]float64{config.MilestoneAPIReady: 60, config.MilestoneNodeReady: 130.5}}
	got, ok, err := config.ParseStatusLine(s.StatusLine())
	if !ok || err != nil || !reflect.DeepEqual(got, s) {
		t.Errorf("ParseStatusLine(%s) = %+v, %v, %v", s.StatusLine(), got, ok, err)
	}
}

// TestDocStatusExamples decodes every JSON example of docs/metadata.md's
// status channel strictly into a Status, so the documented fields are the
// real ones.
func TestDocStatusExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metadata.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n## Status channel\n")
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d JSON examples in the status channel section, want the status and the final status", len(blocks))
	}
	for _, b := range blocks {
		dec := json.NewDecoder(strings.NewReader(b[1]))
		dec.DisallowUnknownFields()
		var s config.Status
		if err := dec.Decode(&s); err != nil {
			t.Errorf("example %s: %v", b[1], err)
			continue
		}
		if s.Node == "" || s.Time.IsZero() || s.Elapsed == 0 {
			t.Errorf("example %s lacks node, time or elapsed", b[1])
		}
		for _, st := range s.Timings {
			if st.Start+st.Seconds-st.End > 0.0005 || st.End-st.Start-st.Seconds > 0.0005 {
				t.Errorf("example timing %+v: seconds is not end - start", st)
			}
		}
	}
}
