package stack

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/devstack/stack/balance"
)

// Several replicas of every service (Options.Replicas, PARLEY_REPLICAS): each replica is its own
// process on ports of its own, and a balancer on the service's usual port stands where a
// Kubernetes Service would, so nothing in the services' configuration changes (docs/devstack.md#replicas).

// readinessPath is what a restarted replica must answer before it is back in rotation: the
// services' readiness probe, as a Kubernetes readiness probe would ask.
const readinessPath = "/readyz"

// replicaName names replica i of a service in the console and in errors: "chat-2".
func replicaName(service string, i int) string { return service + "-" + strconv.Itoa(i) }

func (s *Stack) startBalancer(svc Service) error {
	var addrs []string
	for i := 1; i <= s.o.Replicas; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", s.o.ReplicaPort(svc, i)))
	}
	b, err := balance.Start(svc.Name, fmt.Sprintf("127.0.0.1:%d", s.o.ServicePort(svc)), addrs, s.log)
	if err != nil {
		return err
	}
	if s.balancers == nil {
		s.balancers = map[string]*balance.Balancer{}
	}
	s.balancers[svc.Name] = b
	return nil
}

// replicasNote says where a replicated service's processes are, for the summary.
func (s *Stack) replicasNote(svc Service) string {
	var ports []string
	for i := 1; i <= s.o.Replicas; i++ {
		ports = append(ports, strconv.Itoa(s.o.ReplicaPort(svc, i)))
	}
	return fmt.Sprintf("%d replicas behind it: %s", s.o.Replicas, strings.Join(ports, ", "))
}

// Replicas is how many processes of each service the stack runs.
func (s *Stack) Replicas() int { return s.o.Replicas }

// ReplicaURL is where replica i (1-based) of service name answers, bypassing the balancer; with
// one replica, the service's URL. "" if unknown.
func (s *Stack) ReplicaURL(name string, i int) string {
	svc, ok := s.reg.Service(name)
	if !ok || i < 1 || i > s.o.Replicas {
		return ""
	}
	if s.o.Replicas == 1 {
		return serviceURL(&s.o, svc)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", s.o.ReplicaPort(svc, i))
}

// BalancedConnections is how many connections the balancer of service name has handed to each
// of its replicas so far (nil without replicas).
func (s *Stack) BalancedConnections(name string) []int {
	if b := s.balancers[name]; b != nil {
		return b.AcceptedCounts()
	}
	return nil
}

// RestartReplica restarts replica i (1-based) of service name the way a rolling update replaces a
// pod: out of the balancer's rotation first (no new connections; open ones go on) — or, with
// Options.RotationLag, only that long after the stop signal, connections meanwhile reaching the
// stopping process or failing — then the stop signal, and a graceful exit waited for (an error if it had to be killed after StopTimeout);
// then a new process, back in rotation once it answers its readiness probe (/readyz). With one
// replica there is no balancer and the service is simply unreachable meanwhile.
func (s *Stack) RestartReplica(ctx context.Context, name string, i int) error {
	var r *runner
	for _, c := range s.services {
		if c.svc.Name == name && (c.replica == i || (c.replica == 0 && i == 1)) {
			r = c
		}
	}
	if r == nil {
		return fmt.Errorf("no replica %d of %q in this stack", i, name)
	}
	b := s.balancers[name]
	if b != nil {
		if lag := s.o.RotationLag; lag > 0 {
			b.SetRotation(i-1, balance.Terminating)
			time.AfterFunc(lag, func() { b.LeaveRotation(i - 1) })
		} else {
			b.SetRotation(i-1, balance.OutOfRotation)
		}
	}
	r.mu.Lock()
	old := r.proc
	r.planned = old
	r.mu.Unlock()
	begin := time.Now()
	if killed := old.stop(s.o.StopTimeout); killed {
		return fmt.Errorf("%s did not stop within %s of its stop signal and was killed; its last lines:\n%s", r.spec.name, s.o.StopTimeout, tailText(r.spec.out))
	}
	s.log.Info("replica stopped", "service", r.spec.name, "took", time.Since(begin).Round(10*time.Millisecond), "status", exitStatus(old))
	// supervise starts the next process as soon as it sees the planned exit.
	deadline := time.Now().Add(s.o.ReadyTimeout)
	for {
		r.mu.Lock()
		cur := r.proc
		r.mu.Unlock()
		if cur != old {
			break
		}
		if err := s.waitTick(ctx, deadline, r.spec.name+" to start again"); err != nil {
			return err
		}
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := httpOK(cctx, r.url+readinessPath)
		cancel()
		if err == nil {
			break
		}
		if err := s.waitTick(ctx, deadline, fmt.Sprintf("%s to be ready (%s%s: %v)", r.spec.name, r.url, readinessPath, err)); err != nil {
			return fmt.Errorf("%w; its last lines:\n%s", err, tailText(r.spec.out))
		}
	}
	if b != nil {
		b.SetRotation(i-1, balance.InRotation)
	}
	s.log.Info("replica restarted", "service", r.spec.name, "pid", r.pid(), "took", time.Since(begin).Round(10*time.Millisecond))
	return nil
}

// waitTick waits a moment before the next poll, or says why waiting is over: the deadline
// passed, the context ended or the stack failed.
func (s *Stack) waitTick(ctx context.Context, deadline time.Time, what string) error {
	if time.Now().After(deadline) {
		return fmt.Errorf("waited %s for %s", s.o.ReadyTimeout, what)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		if err := s.Err(); err != nil {
			return err
		}
		return errStopped
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}
