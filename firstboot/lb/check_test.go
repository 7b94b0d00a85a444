package lb

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCheckScriptTracksTheLocalAPIServer runs the rendered check script with
// the real curl against API servers and a load balancer on loopback: it
// fails when this node's own API server stops, although the load balancer
// still answers (through the other control planes), and when the load
// balancer stops.
func TestCheckScriptTracksTheLocalAPIServer(t *testing.T) {
	lookTool(t, "curl", "apt-get install curl")
	healthz := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	})
	port := func(s *httptest.Server) int {
		_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
		n, _ := strconv.Atoi(p)
		return n
	}
	for _, tc := range []struct {
		name               string
		apiServer, haproxy bool
		wantErr            string
	}{
		{"both answer", true, true, ""},
		{"this node's API server stopped", false, true, "this node's API server"},
		{"the load balancer stopped", true, false, "https://localhost:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := httptest.NewTLSServer(healthz)
			defer api.Close()
			lbs := httptest.NewTLSServer(healthz)
			defer lbs.Close()
			p := haParams("cp-1")
			p.Peers = []Peer{{Name: "cp-1", Address: "127.0.0.1"}, {Name: "cp-2", Address: "10.0.0.12"}}
			p.APIServerPort, p.Port = port(api), port(lbs)
			script := filepath.Join(writeRoot(t, render(t, p)), "etc/keepalived/check_apiserver.sh")
			if !tc.apiServer {
				api.Close()
			}
			if !tc.haproxy {
				lbs.Close()
			}
			out, err := run(t, "sh", script)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("check failed with both up: %v\n%s", err, out)
			case tc.wantErr != "" && err == nil:
				t.Errorf("check passed; want a failure naming %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(out, tc.wantErr):
				t.Errorf("check output %q does not name %q", out, tc.wantErr)
			}
		})
	}
}

// TestKeepalivedGivesUpWithinTenSeconds reads the detection time out of the
// rendered keepalived.conf: interval × fall, plus one VRRP advert for the
// peer to take over, must stay under 10 s.
func TestKeepalivedGivesUpWithinTenSeconds(t *testing.T) {
	conf := string(render(t, haParams("cp-1"))["etc/keepalived/keepalived.conf"].Data)
	field := func(name string) int {
		for _, l := range strings.Split(conf, "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == name {
				n, err := strconv.Atoi(f[1])
				if err == nil {
					return n
				}
			}
		}
		t.Fatalf("keepalived.conf has no %s:\n%s", name, conf)
		return 0
	}
	if d := field("interval")*field("fall") + field("advert_int"); d >= 10 {
		t.Errorf("interval × fall + advert_int = %d s; want under 10", d)
	}
	if field("fall") < 2 {
		t.Error("fall < 2: one slow answer would move the VIP")
	}
}

// TestCheckSettings: a slow host's check settings reach keepalived.conf and
// the script's request timeouts; out-of-range ones are refused naming the field.
func TestCheckSettings(t *testing.T) {
	p := haParams("cp-1")
	p.Check = Check{Interval: 5, Timeout: 10, Fall: 6}
	files := render(t, p)
	conf := string(files["etc/keepalived/keepalived.conf"].Data)
	for _, want := range []string{"    interval 5\n", "    timeout 31\n", "    fall 6\n", "    rise 2\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("keepalived.conf lacks %q:\n%s", want, conf)
		}
	}
	script := string(files["etc/keepalived/check_apiserver.sh"].Data)
	if n := strings.Count(script, "--max-time 10 "); n != 3 {
		t.Errorf("check script has %d requests with --max-time 10, want 3:\n%s", n, script)
	}
	for _, c := range []Check{{Interval: 61}, {Timeout: -1}, {Fall: 21}, {Rise: 100}} {
		p := haParams("cp-1")
		p.Check = c
		if _, err := Render(p); err == nil || !strings.Contains(err.Error(), "check.") {
			t.Errorf("Check %+v: %v, want an error naming check.*", c, err)
		}
	}
}
