package downstream

import (
	"slices"
	"testing"

	"github.com/mcphub/mcphub/pkg/config"
)

// TestChildEnvKeepsTheHubTokenOut: a stdio server inherits the hub's
// environment but not the hub's API token, unless its own env sets it.
func TestChildEnvKeepsTheHubTokenOut(t *testing.T) {
	t.Setenv(config.EnvAPIToken, "hub-secret-token-0123456789")
	t.Setenv("MCPHUB_TEST_INHERITED", "yes")
	env := childEnv(map[string]string{"B": "2", "A": "1"})
	for _, kv := range env {
		if kv == config.EnvAPIToken+"=hub-secret-token-0123456789" {
			t.Fatalf("the hub's token reached the child: %q", kv)
		}
	}
	if !slices.Contains(env, "MCPHUB_TEST_INHERITED=yes") {
		t.Error("the rest of the environment is not inherited")
	}
	if i, j := slices.Index(env, "A=1"), slices.Index(env, "B=2"); i < 0 || j != i+1 {
		t.Errorf("configured variables missing or out of order: %d %d", i, j)
	}
	own := childEnv(map[string]string{config.EnvAPIToken: "the-server-s-own"})
	if !slices.Contains(own, config.EnvAPIToken+"=the-server-s-own") {
		t.Error("a server's own env entry for the variable is dropped")
	}
}
