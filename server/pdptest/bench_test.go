package pdptest_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// BenchmarkCheck measures one Check over gRPC on loopback against a whole
// server (demo tenant acme, memory store, no decision log): client and
// server share the process, so allocations and CPU are both sides'; a CPU
// or allocation profile separates them by function. Besides ns/op (wall
// time) it reports cpu-ns/op, the process's CPU time (both sides, GC
// included) per call: on a shared machine other processes stretch the wall
// time, much less the CPU time.
func BenchmarkCheck(b *testing.B) {
	acme, err := os.ReadFile("../demo/tenants/acme.yaml")
	if err != nil {
		b.Fatal(err)
	}
	srv := pdptest.Start(b, pdptest.WithTenant("acme.yaml", string(acme)))
	now := time.Now()
	req := &pdpv1.CheckRequest{
		Tenant: "acme", Environment: "production",
		Subject: &pdpv1.Subject{Id: "u-42", Email: "ada@acme.com", Roles: []string{"engineer"}, Groups: []string{"eng"},
			MfaEnrolled: true, Tenant: "acme", CreatedAt: timestamppb.New(now.AddDate(-1, 0, 0))},
		Authentication: &pdpv1.Authentication{Provider: "google", Methods: []string{"pwd", "otp"}, Acr: "aal2",
			AuthenticatedAt: timestamppb.New(now.Add(-30 * time.Minute)), MfaVerifiedAt: timestamppb.New(now.Add(-30 * time.Minute))},
		Network: &pdpv1.Network{Ip: "203.0.113.7", Country: "PT", City: "Lisbon", Asn: 64500},
		Device:  &pdpv1.Device{Id: "d-7", Platform: "macos", Managed: true, Compliant: true},
		Action:  &pdpv1.Action{Name: "api.read", Resource: "/v1/projects/9"},
		Session: &pdpv1.Session{Id: "s-9", StartedAt: timestamppb.New(now.Add(-30 * time.Minute)), LastActivityAt: timestamppb.New(now.Add(-time.Minute))},
	}
	ctx := context.Background()
	b.ReportAllocs()
	start := processCPU()
	n := 0
	for b.Loop() {
		if _, err := srv.Decisions.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(processCPU()-start)/float64(n), "cpu-ns/op")
}

// processCPU is the user and system CPU time of the process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
