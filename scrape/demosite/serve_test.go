package demosite

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestStartAndServe(t *testing.T) {
	url, stop, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/robots.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Disallow") {
		t.Fatalf("robots.txt: %q", body)
	}
	stop()
	if _, err := http.Get(url + "/robots.txt"); err == nil {
		t.Fatal("server still answers after stop")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", func(u string) {
			r, err := http.Get(u + "/")
			if err == nil {
				r.Body.Close()
			}
			if err != nil || r.StatusCode != 200 {
				t.Errorf("index: %v %v", err, r)
			}
			cancel()
		})
	}()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}
