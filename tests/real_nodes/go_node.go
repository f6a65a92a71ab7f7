// A group-API node written the way Go net/http servers usually are: one
// ServeMux, a subtree pattern for /v1/group/ (a request for /v1/group is
// answered 301 to /v1/group/), and the id taken from the path by hand.
// Creates answer 201 with an empty body, reads 200 with an empty body, and
// a delete of an absent group 404.
//
// Run by tests/real_nodes.rs: listens on 127.0.0.1 on a free port, prints
// "port=<n>" on stdout, then serves until killed.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
)

type store struct {
	mu     sync.Mutex
	groups map[string]bool
}

func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/group/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if rest == "" {
		var body struct {
			GroupID *string `json:"groupId"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.GroupID == nil {
			http.Error(w, "body must be a JSON object with a string groupId", http.StatusBadRequest)
			return
		}
		id := *body.GroupID
		switch r.Method {
		case http.MethodPost:
			if s.groups[id] {
				http.Error(w, "group exists", http.StatusBadRequest)
				return
			}
			s.groups[id] = true
			w.WriteHeader(http.StatusCreated)
		case http.MethodDelete:
			if !s.groups[id] {
				http.Error(w, "no such group", http.StatusNotFound)
				return
			}
			delete(s.groups, id)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
		return
	}
	id := strings.TrimSuffix(rest, "/")
	if r.Method != http.MethodGet || strings.Contains(id, "/") {
		http.NotFound(w, r)
		return
	}
	if !s.groups[id] {
		http.NotFound(w, r)
	}
}

func main() {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("port=%d\n", listener.Addr().(*net.TCPAddr).Port)
	mux := http.NewServeMux()
	mux.Handle("/v1/group/", &store{groups: map[string]bool{}})
	if err := http.Serve(listener, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
