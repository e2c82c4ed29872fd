package main

// Where the system under test is: every address the phases need, and the ports by which its
// processes are found on this machine.

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// serviceOffsets are the services' ports relative to the gateway's: the registry's
// (tilt/services.json) standard ports 8080-8086, which PARLEY_PORT_BASE shifts as a block.
var serviceOffsets = []struct {
	name string
	off  int
}{{"gateway", 0}, {"auth", 1}, {"profile", 2}, {"friend", 3}, {"chat", 4}, {"notification", 5}, {"media", 6}}

// The dev stack's infrastructure ports relative to PARLEY_PORT_BASE (docs/devstack.md).
const (
	offPostgres = 20
	offRedis    = 21
	offKafka    = 22
	// A service's admin listener (ADMIN_ADDR, pprof) is its port + 30 with PARLEY_PORT_BASE, and
	// its port + 1000 on the standard layout (gateway 8080 → 9080).
	baseAdminShift     = 30
	standardAdminShift = 1000
)

// adminShift resolves -admin-offset: -1 means the dev stack's layout for this port base.
func adminShift(flag, base int) int {
	switch {
	case flag >= 0:
		return flag
	case base == 0:
		return standardAdminShift
	default:
		return baseAdminShift
	}
}

// target is the deployment under test.
type target struct {
	GatewayURL  string `json:"gateway_url"`
	ProfileURL  string `json:"profile_url,omitempty"`
	PostgresURL string `json:"postgres_url,omitempty"`
	RedisURL    string `json:"redis_url,omitempty"`
	KafkaAddr   string `json:"kafka_addr,omitempty"`
	// PrivateStack: started by this run (PortBase is its PARLEY_PORT_BASE).
	PrivateStack bool `json:"private_stack"`
	PortBase     int  `json:"port_base,omitempty"`
	// Local: the gateway is on this machine, so its processes can be found and measured.
	Local        bool           `json:"local"`
	ServicePorts map[string]int `json:"service_ports,omitempty"`
	AdminPorts   map[string]int `json:"admin_ports,omitempty"`
}

// stackTarget is a dev stack at port base (0: the standard ports of `make up`).
func stackTarget(base, adminOffset int) target {
	gw, pg, rd, kf := 8080, 5433, 6380, 9092
	if base != 0 {
		gw, pg, rd, kf = base, base+offPostgres, base+offRedis, base+offKafka
	}
	t := target{
		GatewayURL:  fmt.Sprintf("http://127.0.0.1:%d", gw),
		ProfileURL:  fmt.Sprintf("http://127.0.0.1:%d", gw+2),
		PostgresURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg),
		RedisURL:    fmt.Sprintf("redis://127.0.0.1:%d", rd),
		KafkaAddr:   fmt.Sprintf("127.0.0.1:%d", kf),
		PortBase:    base,
	}
	t.setLocalPorts(gw, adminShift(adminOffset, base))
	return t
}

func (t *target) setLocalPorts(gatewayPort, adminOffset int) {
	t.Local = true
	t.ServicePorts = map[string]int{}
	t.AdminPorts = map[string]int{}
	for _, s := range serviceOffsets {
		t.ServicePorts[s.name] = gatewayPort + s.off
		if adminOffset > 0 {
			t.AdminPorts[s.name] = gatewayPort + s.off + adminOffset
		}
	}
}

// deploymentTarget is an existing deployment named by -gateway. On this machine, at 8080 it is
// `make up`'s standard layout, at another port a PARLEY_PORT_BASE layout with the gateway at the
// base; elsewhere only what the flags say is known. Flags always win.
func deploymentTarget(c config) (target, error) {
	u, err := url.Parse(c.Gateway)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return target{}, fmt.Errorf("-gateway %q: want a URL such as http://127.0.0.1:8080", c.Gateway)
	}
	var t target
	if isLoopback(u.Hostname()) {
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			port = 80
		}
		base := port
		if port == 8080 {
			base = 0
		}
		t = stackTarget(base, c.AdminOffset)
		t.PortBase = 0
		t.setLocalPorts(port, adminShift(c.AdminOffset, base))
	}
	t.GatewayURL = strings.TrimRight(c.Gateway, "/")
	for dst, v := range map[*string]string{&t.ProfileURL: c.ProfileURL, &t.PostgresURL: c.PostgresURL, &t.RedisURL: c.RedisURL, &t.KafkaAddr: c.KafkaAddr} {
		if v != "" {
			*dst = v
		}
	}
	return t, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localPort returns the port of a URL or host:port when its host is this machine, else 0.
func localPort(addr string) int {
	host, port := addr, ""
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		host, port = u.Hostname(), u.Port()
	} else if h, p, err := net.SplitHostPort(addr); err == nil {
		host, port = h, p
	}
	if !isLoopback(host) {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// processWants lists the processes to account CPU to, by port.
func (t *target) processWants() []procWant {
	var ws []procWant
	for _, s := range serviceOffsets {
		ws = append(ws, procWant{Name: s.name, Port: t.ServicePorts[s.name]})
	}
	ws = append(ws,
		procWant{Name: "postgres", Port: localPort(t.PostgresURL), Tree: true},
		procWant{Name: "redis", Port: localPort(t.RedisURL)},
		procWant{Name: "broker", Port: localPort(t.KafkaAddr)},
	)
	return ws
}
