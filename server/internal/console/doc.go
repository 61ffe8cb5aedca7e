// Package console is the security-policy console: the pages served at
// /console/ on the HTTP port, and the JSON door they call.
//
// The pages are plain HTML, CSS and JavaScript modules embedded in the
// binary (assets/), so the console works offline and without a build step.
// They are served with a strict Content-Security-Policy (scripts and styles
// from this origin only, nothing inline, no framing), nosniff and
// same-origin isolation headers.
//
// The JSON door, POST /console/api/{service}/{method}, is how the browser,
// which cannot speak gRPC, calls the admin API. It does not call the
// services itself: it maps the JSON body onto the method's request message
// with protojson and makes a real gRPC call over an in-memory connection to
// a gRPC server built like the gRPC port's (grpcserver.New with the
// same guards) and serving the same service values. So authentication,
// authorization, decoding, validation, plan gating, compliance guards,
// two-person approval and the audit log apply exactly as they do to grpcurl;
// the console has no second path to any of them. The API key travels in the
// X-PDP-Api-Key header of each call and is handed to the guard as metadata;
// the console sets no cookie.
//
// Cross-site requests are refused before anything is called: a call must
// be a POST with Content-Type application/json and the X-PDP-Console
// header (which a cross-site form cannot send and no CORS preflight is ever
// granted for), and net/http's CrossOriginProtection refuses a request
// whose Sec-Fetch-Site or Origin names another site.
package console
