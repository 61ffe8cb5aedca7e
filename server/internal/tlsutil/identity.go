package tlsutil

import "crypto/x509"

// Identity names the holder of a verified client certificate: its SPIFFE
// ID (the first URI SAN with scheme spiffe) when it has one, else its first
// DNS SAN, else its subject common name. spiffeID is the SPIFFE ID alone,
// empty when the certificate has none. A nil certificate has no identity.
func Identity(cert *x509.Certificate) (name, spiffeID string) {
	if cert == nil {
		return "", ""
	}
	for _, u := range cert.URIs {
		if u != nil && u.Scheme == "spiffe" {
			s := u.String()
			return s, s
		}
	}
	if len(cert.DNSNames) > 0 {
		return cert.DNSNames[0], ""
	}
	return cert.Subject.CommonName, ""
}
