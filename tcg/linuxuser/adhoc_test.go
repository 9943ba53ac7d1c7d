package linuxuser

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestAdhoc runs GOVMM_ADHOC (a program path) for manual experiments.
func TestAdhoc(t *testing.T) {
	prog := os.Getenv("GOVMM_ADHOC")
	if prog == "" {
		t.Skip("GOVMM_ADHOC not set")
	}
	res, err := Run(context.Background(), Config{Path: prog, Args: append([]string{prog}, strings.Fields(os.Getenv("GOVMM_ADHOC_ARGS"))...), Stdout: os.Stdout, Stderr: os.Stderr, Warn: os.Stderr, Backend: os.Getenv("GOVMM_BACKEND")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
}
