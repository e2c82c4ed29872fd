// Package access reads who may call each Parley procedure from the protos: the
// (parley.options.v1.access) method option is the one list, and the gateway's routing and every
// service's authentication interceptor take theirs from here instead of writing procedure names
// out again. Use Public, Internal and AuthLimited in the gateway, Unauthenticated in a service's
// interceptor.
package access

import (
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Every Parley service's descriptors must be registered for the walk to see them.
	_ "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	_ "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	_ "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	_ "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	_ "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	optionsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/options/v1"
	_ "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
)

// Procedure is one RPC with its marked access.
type Procedure struct {
	Service string // full service name, e.g. "parley.auth.v1.AuthService"
	Name    string // full procedure, e.g. "/parley.auth.v1.AuthService/Register"
	Access  optionsv1.Access
	// RateLimit is the gateway budget its calls are charged to (RATE_LIMIT_UNSPECIFIED: the
	// defaults).
	RateLimit optionsv1.RateLimit
}

// All lists every procedure of every Parley service, sorted by name. An unmarked method reads
// as ACCESS_USER.
var All = sync.OnceValue(func() []Procedure {
	var out []Procedure
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "parley.") {
			return true
		}
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				out = append(out, Procedure{
					Service:   string(s.FullName()),
					Name:      "/" + string(s.FullName()) + "/" + string(m.Name()),
					Access:    methodAccess(m),
					RateLimit: methodOption[optionsv1.RateLimit](m, optionsv1.E_RateLimit),
				})
			}
		}
		return true
	})
	slices.SortFunc(out, func(a, b Procedure) int { return strings.Compare(a.Name, b.Name) })
	return out
})

func methodAccess(m protoreflect.MethodDescriptor) optionsv1.Access {
	if a := methodOption[optionsv1.Access](m, optionsv1.E_Access); a != optionsv1.Access_ACCESS_UNSPECIFIED {
		return a
	}
	return optionsv1.Access_ACCESS_USER
}

// methodOption is the value of the method option ext on m, the zero value (UNSPECIFIED) when it
// is not set.
func methodOption[T any](m protoreflect.MethodDescriptor, ext protoreflect.ExtensionType) T {
	var v T
	if opts := m.Options(); opts != nil && proto.HasExtension(opts, ext) {
		v, _ = proto.GetExtension(opts, ext).(T)
	}
	return v
}

// AuthLimited lists the procedures marked RATE_LIMIT_AUTH: the gateway's default list of calls
// charged to the client network's auth budget (RATE_LIMIT_AUTH_PROCEDURES).
func AuthLimited() []string {
	out := []string{}
	for _, p := range All() {
		if p.RateLimit == optionsv1.RateLimit_RATE_LIMIT_AUTH {
			out = append(out, p.Name)
		}
	}
	return out
}

// Public lists the procedures anyone may call without a token: the gateway's default public list.
func Public() []string {
	return names("", optionsv1.Access_ACCESS_PUBLIC)
}

// Internal lists the procedures only Parley services may call: the gateway never routes them.
func Internal() []string {
	return names("", optionsv1.Access_ACCESS_INTERNAL, optionsv1.Access_ACCESS_INTERNAL_SERVICE)
}

// Unauthenticated lists the procedures of service (its full name, e.g. authv1connect.AuthServiceName)
// that its authentication interceptor lets through without an access token: the public ones, and
// the internal ones whose handler checks the internal service token itself.
func Unauthenticated(service string) []string {
	return names(service, optionsv1.Access_ACCESS_PUBLIC, optionsv1.Access_ACCESS_INTERNAL_SERVICE)
}

// names lists the procedures of service ("" for every service) with one of the given accesses.
func names(service string, accesses ...optionsv1.Access) []string {
	out := []string{}
	for _, p := range All() {
		if (service == "" || p.Service == service) && slices.Contains(accesses, p.Access) {
			out = append(out, p.Name)
		}
	}
	return out
}
