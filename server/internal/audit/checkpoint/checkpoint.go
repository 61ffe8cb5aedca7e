// Package checkpoint anchors the audit chain outside its store. The chain
// alone cannot show a rewrite from its end: its only anchor, the head, is
// kept next to the records, so whoever can write the store can cut the
// tail, rewrite the last records or re-hash the chain from any point, move
// the head, and `pdp audit verify` still finds every link sound.
//
// A Checkpointer therefore signs the chain's head (seq, hash, id and the
// time) with an Ed25519 key after audited changes, at start and at
// shutdown, and appends each checkpoint as one line to a file the store's
// writer need not be able to rewrite (another disk, a log shipper, an
// append-only mount). Check then finds every checkpoint the chain no longer
// holds: a different event at a checkpoint's seq (a rewrite at or before
// it) or no event there (a truncation below it).
//
// A checkpoint is a compact JWS (RFC 7515) with alg EdDSA (RFC 8037), so
// standard JOSE tools verify it with the public key alone:
//
//	protected header  {"alg":"EdDSA","kid":KID,"typ":"pdp-audit-checkpoint"}
//	payload           {"hash":HEX,"id":UUID,"seq":N,"time":RFC3339}
//
// KID is the key's RFC 7638 thumbprint (SHA-256, base64url), which names
// the key without a registry and lets verification pick among rotated
// keys. Keys are PEM files: the private key PKCS #8 ("PRIVATE KEY", as
// `openssl genpkey -algorithm ed25519` writes it too), the public key
// PKIX ("PUBLIC KEY").
package checkpoint

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/pdp-dev/pdp/server/internal/audit"
)

// Type is the typ header of every checkpoint, so that a JWS signed with the
// same key for another purpose is never taken for a checkpoint.
const Type = "pdp-audit-checkpoint"

// Checkpoint is one signed head of the chain.
type Checkpoint struct {
	// Seq is the head's sequence number; 0 for an empty chain.
	Seq uint64
	// Hash is the hash of the event at Seq; empty for an empty chain.
	Hash string
	// ID is the id of the event at Seq; empty for an empty chain.
	ID string
	// Time is when the checkpoint was signed.
	Time time.Time
	// KeyID is the thumbprint of the signing key (the kid header).
	KeyID string
}

// Head returns the chain head c records.
func (c Checkpoint) Head() audit.Head { return audit.Head{Seq: c.Seq, Hash: c.Hash, ID: c.ID} }

// payload is the signed JSON; its fields are in key order.
type payload struct {
	Hash string `json:"hash"`
	ID   string `json:"id"`
	Seq  uint64 `json:"seq"`
	Time string `json:"time"`
}

// GenerateKey returns a new Ed25519 key as PEM: the private key (PKCS #8)
// and the public key (PKIX).
func GenerateKey() (privPEM, pubPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// ParsePrivateKey reads an Ed25519 private key from a PEM "PRIVATE KEY"
// (PKCS #8) block.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New(`no PEM "PRIVATE KEY" block (PKCS #8; create one with pdp audit keygen)`)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return priv, nil
}

// ParsePublicKey reads an Ed25519 public key from a PEM "PUBLIC KEY"
// (PKIX) block.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New(`no PEM "PUBLIC KEY" block (PKIX, as pdp audit keygen writes it)`)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return pub, nil
}

// KeyID returns the RFC 7638 thumbprint of pub: the base64url SHA-256 of
// its JWK's required members.
func KeyID(pub ed25519.PublicKey) (string, error) {
	k, err := jwk.Import(pub)
	if err != nil {
		return "", err
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// Signer signs checkpoints with one key.
type Signer struct {
	key ed25519.PrivateKey
	kid string
}

// NewSigner returns a signer for key.
func NewSigner(key ed25519.PrivateKey) (*Signer, error) {
	kid, err := KeyID(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, kid: kid}, nil
}

// KeyID returns the signing key's thumbprint.
func (s *Signer) KeyID() string { return s.kid }

// Public returns the signing key's public half.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns the compact JWS of a checkpoint of h at time t.
func (s *Signer) Sign(h audit.Head, t time.Time) ([]byte, error) {
	body, err := json.Marshal(payload{Hash: h.Hash, ID: h.ID, Seq: h.Seq, Time: t.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return nil, err
	}
	hdr := jws.NewHeaders()
	if err := errors.Join(hdr.Set(jws.KeyIDKey, s.kid), hdr.Set(jws.TypeKey, Type)); err != nil {
		return nil, err
	}
	return jws.Sign(body, jws.WithKey(jwa.EdDSA(), s.key, jws.WithProtectedHeaders(hdr)))
}

// Keys are the public keys checkpoints may be signed with, by key id.
type Keys map[string]ed25519.PublicKey

// NewKeys indexes pubs by their key ids.
func NewKeys(pubs ...ed25519.PublicKey) (Keys, error) {
	ks := Keys{}
	for _, p := range pubs {
		kid, err := KeyID(p)
		if err != nil {
			return nil, err
		}
		ks[kid] = p
	}
	return ks, nil
}

// The ways a line fails to be a checkpoint.
var (
	// ErrMalformed: the line is not a compact JWS of a checkpoint.
	ErrMalformed = errors.New("not a checkpoint")
	// ErrUnknownKey: the kid names none of the keys given.
	ErrUnknownKey = errors.New("signed by an unknown key")
	// ErrSignature: the signature does not verify with the key the kid
	// names: the checkpoint was forged or altered.
	ErrSignature = errors.New("the signature does not verify")
)

// Verify checks one line against ks and returns the checkpoint it signs.
// The error wraps ErrMalformed, ErrUnknownKey or ErrSignature.
func (ks Keys) Verify(line []byte) (Checkpoint, error) {
	line = bytes.TrimSpace(line)
	msg, err := jws.Parse(line, jws.WithCompact())
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return Checkpoint{}, fmt.Errorf("%w: %d signatures", ErrMalformed, len(sigs))
	}
	h := sigs[0].ProtectedHeaders()
	if alg, ok := h.Algorithm(); !ok || alg != jwa.EdDSA() {
		return Checkpoint{}, fmt.Errorf("%w: alg %v, want EdDSA", ErrMalformed, alg)
	}
	if typ, _ := h.Type(); typ != Type {
		return Checkpoint{}, fmt.Errorf("%w: typ %q, want %q", ErrMalformed, typ, Type)
	}
	kid, _ := h.KeyID()
	key, ok := ks[kid]
	if !ok {
		return Checkpoint{KeyID: kid}, fmt.Errorf("%w %q", ErrUnknownKey, kid)
	}
	body, err := jws.Verify(line, jws.WithKey(jwa.EdDSA(), key), jws.WithAlgorithmMatch(true))
	if err != nil {
		return Checkpoint{KeyID: kid}, fmt.Errorf("%w with key %s: %v", ErrSignature, kid, err)
	}
	var p payload
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return Checkpoint{KeyID: kid}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	t, err := time.Parse(time.RFC3339Nano, p.Time)
	if err != nil {
		return Checkpoint{KeyID: kid}, fmt.Errorf("%w: time: %v", ErrMalformed, err)
	}
	cp := Checkpoint{Seq: p.Seq, Hash: p.Hash, ID: p.ID, Time: t.UTC(), KeyID: kid}
	if err := checkHead(cp); err != nil {
		return cp, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return cp, nil
}

// checkHead refuses a payload no chain head has.
func checkHead(cp Checkpoint) error {
	if cp.Seq == 0 {
		if cp.Hash != "" || cp.ID != "" {
			return errors.New("seq 0 with a hash or an id")
		}
		return nil
	}
	if b, err := hex.DecodeString(cp.Hash); err != nil || len(b) != 32 {
		return fmt.Errorf("hash %q is not a hex SHA-256", cp.Hash)
	}
	if cp.ID == "" {
		return errors.New("no id")
	}
	return nil
}
