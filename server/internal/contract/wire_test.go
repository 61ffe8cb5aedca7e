package contract

import (
	"context"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/bufbuild/protocompile"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The wire definitions under proto/buf and proto/google are written for
// this repository and not generated: Go uses the types of the modules
// their go_package names. Each must agree with those types on everything
// the wire and the option readers see, or a rule written in proto/pdp
// would be read as another one (or not at all).
func TestWireDefinitionsAgreeWithTheGoTypesTheyStandFor(t *testing.T) {
	t.Parallel()
	real := map[string]protoreflect.FileDescriptor{
		"buf/validate/validate.proto":     validate.File_buf_validate_validate_proto,
		"google/api/field_behavior.proto": annotations.File_google_api_field_behavior_proto,
		"google/rpc/status.proto":         status.File_google_rpc_status_proto,
	}
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"../../../proto"}})}
	for path, want := range real {
		files, err := c.Compile(context.Background(), path)
		if err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
		got := files[0]
		if g, w := goPackage(got), goPackage(want); g != w || got.Package() != want.Package() {
			t.Errorf("%s: package %s (go_package %q), want %s (%q)", path, got.Package(), g, want.Package(), w)
		}
		agreeMessages(t, got.Messages(), want)
		agreeEnums(t, got.Enums(), want)
		agreeExtensions(t, got.Extensions(), want)
	}
}

func goPackage(f protoreflect.FileDescriptor) string {
	return f.Options().(*descriptorpb.FileOptions).GetGoPackage()
}

// wantDesc finds the descriptor of name in the real file, or fails.
func wantDesc(t *testing.T, want protoreflect.FileDescriptor, name protoreflect.FullName) protoreflect.Descriptor {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil || d.ParentFile().Path() != want.Path() {
		t.Errorf("%s is not in %s", name, want.Path())
		return nil
	}
	return d
}

func agreeMessages(t *testing.T, msgs protoreflect.MessageDescriptors, want protoreflect.FileDescriptor) {
	t.Helper()
	for i := range msgs.Len() {
		m := msgs.Get(i)
		w, ok := wantDesc(t, want, m.FullName()).(protoreflect.MessageDescriptor)
		if !ok {
			continue
		}
		for j := range m.Fields().Len() {
			agreeField(t, m.Fields().Get(j), w.Fields().ByName(m.Fields().Get(j).Name()))
		}
		agreeMessages(t, m.Messages(), want)
		agreeEnums(t, m.Enums(), want)
	}
}

func agreeEnums(t *testing.T, enums protoreflect.EnumDescriptors, want protoreflect.FileDescriptor) {
	t.Helper()
	for i := range enums.Len() {
		e := enums.Get(i)
		w, ok := wantDesc(t, want, e.FullName()).(protoreflect.EnumDescriptor)
		if !ok {
			continue
		}
		for j := range e.Values().Len() {
			v := e.Values().Get(j)
			if wv := w.Values().ByName(v.Name()); wv == nil || wv.Number() != v.Number() {
				t.Errorf("%s = %d, not in %s with that number", v.FullName(), v.Number(), want.Path())
			}
		}
	}
}

func agreeExtensions(t *testing.T, exts protoreflect.ExtensionDescriptors, want protoreflect.FileDescriptor) {
	t.Helper()
	for i := range exts.Len() {
		x := exts.Get(i)
		w, ok := wantDesc(t, want, x.FullName()).(protoreflect.ExtensionDescriptor)
		if !ok {
			continue
		}
		if x.ContainingMessage().FullName() != w.ContainingMessage().FullName() {
			t.Errorf("%s extends %s, want %s", x.FullName(), x.ContainingMessage().FullName(), w.ContainingMessage().FullName())
		}
		agreeField(t, x, w)
	}
}

// agreeField compares what the wire and an option reader see of a field.
func agreeField(t *testing.T, got, want protoreflect.FieldDescriptor) {
	t.Helper()
	if want == nil {
		t.Errorf("%s is not in the real message", got.FullName())
		return
	}
	if got.Number() != want.Number() || got.Kind() != want.Kind() || got.Cardinality() != want.Cardinality() ||
		typeName(got) != typeName(want) || oneofName(got) != oneofName(want) {
		t.Errorf("%s: %d %v %v %s in %q, want %d %v %v %s in %q", got.FullName(),
			got.Number(), got.Cardinality(), got.Kind(), typeName(got), oneofName(got),
			want.Number(), want.Cardinality(), want.Kind(), typeName(want), oneofName(want))
	}
}

func typeName(f protoreflect.FieldDescriptor) protoreflect.FullName {
	switch {
	case f.Message() != nil:
		return f.Message().FullName()
	case f.Enum() != nil:
		return f.Enum().FullName()
	}
	return ""
}

func oneofName(f protoreflect.FieldDescriptor) protoreflect.Name {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o.Name()
	}
	return ""
}
