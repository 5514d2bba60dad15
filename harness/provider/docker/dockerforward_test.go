package docker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/tcpproxy"
)

// TestContainerEnvRefusesForeignLoopback hands containerEnv loopback
// addresses that are none of the harness's listeners: the Docker API on
// localhost:2375, a host PostgreSQL on 127.0.0.1:5432. Each used to get a
// forwarder on the bridge gateway, handing containers the host's loopback
// services; now each is an environment error naming the key and the
// address (never the value, which may hold a secret), and no forwarder
// opens — not even for an allowed address beside it.
func TestContainerEnvRefusesForeignLoopback(t *testing.T) {
	p := newDockerProvider(provider.Config{RunID: "t"})
	defer p.Close(context.Background())
	p.AllowForward("http://127.0.0.1:8081")
	for _, env := range []map[string]string{
		{"DOCKER_HOST": "tcp://localhost:2375"},
		{"DATABASE_URL": "postgres://postgres:hunter2@127.0.0.1:5432/db", "PRICING_URL": "http://127.0.0.1:8081"},
	} {
		out, err := p.containerEnv("127.0.0.1", env)
		var ee *provider.EnvError
		if !errors.As(err, &ee) || !errors.Is(err, provider.ErrEnvironment) {
			t.Fatalf("containerEnv(%v) = %v, %v; want an EnvError", env, out, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the value: %v", err)
		}
		if !strings.Contains(err.Error(), "2375") && !strings.Contains(err.Error(), "5432") {
			t.Errorf("the error does not name the address: %v", err)
		}
		p.mu.Lock()
		n := len(p.forwarders)
		p.mu.Unlock()
		if n != 0 {
			t.Errorf("containerEnv(%v) opened %d forwarders", env, n)
		}
	}
	if _, err := p.forwarderTo("127.0.0.1", "127.0.0.1:2375"); err == nil {
		t.Error("forwarderTo opened a forwarder to 127.0.0.1:2375")
	}
}

// TestContainerEnvForwardsOwnListeners: a router entry the harness named
// (AllowForward) and one of the provider's own database proxies are
// rewritten to forwarders, localhost spelling included.
func TestContainerEnvForwardsOwnListeners(t *testing.T) {
	p := newDockerProvider(provider.Config{RunID: "t"})
	defer p.Close(context.Background())
	px, err := tcpproxy.New("127.0.0.1:1") // never dialled
	if err != nil {
		t.Fatal(err)
	}
	if !p.track(func() { p.proxies = append(p.proxies, px) }) {
		t.Fatal("provider closed")
	}
	p.AllowForward("http://127.0.0.1:8081")
	pxPort := px.Addr()[strings.LastIndexByte(px.Addr(), ':'):]
	env, err := p.containerEnv("127.0.0.1", map[string]string{
		"PRICING_URL":  "http://localhost:8081/x",
		"DATABASE_URL": "postgres://postgres@localhost" + pxPort + "/db",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(env["PRICING_URL"], ":8081") || strings.Contains(env["DATABASE_URL"], pxPort+"/") {
		t.Errorf("not rewritten to forwarders: %v", env)
	}
	p.mu.Lock()
	n := len(p.forwarders)
	p.mu.Unlock()
	if n != 2 {
		t.Errorf("%d forwarders, want 2", n)
	}
}
