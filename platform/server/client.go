package server

import "net/http"

// H2CClient returns the HTTP client for calling another service over gRPC: HTTP/2 over plain TCP
// (h2c, prior knowledge), which is how Server answers gRPC inside the cluster. A service's
// <peer>client package uses it when its caller passes no client of its own.
func H2CClient() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}}
}
