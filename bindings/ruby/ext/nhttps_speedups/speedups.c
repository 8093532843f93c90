/* Nhttps::Speedups: the Rack handler's environment of a request, built in C
 * from nhttps's CGI block instead of splitting it into Ruby Strings, and its
 * response head's raw block.
 *
 * Optional: Nhttps::Rack uses it when it was built (build_gem.sh, or
 * bindings/ruby/run_tests.sh in a checkout) and does the same in Ruby
 * otherwise (NHTTPS_PURE_RUBY=1 forces that; IncomingMessage#rack_env and
 * ServerResponse.raw_headers); the tests run both.
 *
 * It links against nothing but Ruby: `bind` is given the address of
 * nhttps_incoming_message_cgi_variables from the ffi handle the gem has
 * already loaded. The request handle is passed as an Integer address,
 * valid for the call (the caller holds the handle's lock). */

#include <ruby.h>
#include <ruby/encoding.h>
#include <stdint.h>
#include <string.h>

typedef int (*cgi_variables_fn)(const void *message, const uint8_t **block_out,
                                size_t *len_out);

static cgi_variables_fn cgi_variables;
static VALUE native; /* Nhttps::Native, whose check! raises a result's error */
static ID id_check;

/* A variable's name: frozen, and on Ruby 3.0+ one String shared by every
 * request (the Hash keeps a frozen key as it is, without a copy). */
static VALUE name_string(const char *p, long n) {
#ifdef HAVE_RB_ENC_INTERNED_STR
    return rb_enc_interned_str(p, n, rb_utf8_encoding());
#else
    return rb_obj_freeze(rb_utf8_str_new(p, n));
#endif
}

/* Speedups.bind(address of nhttps_incoming_message_cgi_variables, Nhttps::Native) */
static VALUE speedups_bind(VALUE self, VALUE cgi, VALUE native_module) {
    void *address = (void *)(uintptr_t)NUM2ULL(cgi);
    if (address == NULL)
        rb_raise(rb_eArgError, "bind: NULL function");
    cgi_variables = (cgi_variables_fn)address;
    native = native_module;
    return Qnil;
}

/* A CGI value as the Rack SPEC wants it: UTF-8 when ASCII, else binary
 * (ASCII-8BIT). */
static VALUE cgi_value(const char *p, long n) {
    for (long i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return rb_str_new(p, n);
    return rb_utf8_str_new(p, n);
}

/* PATH_INFO of a request target: its path (the query cut off; of an
 * absolute-form target, from the "/" after the authority, or "/"). */
static VALUE path_info(const char *target, long len) {
    const char *path = target, *stop = memchr(target, '?', len);
    if (stop == NULL)
        stop = target + len;
    for (const char *p = target; len > 0 && target[0] != '/' && p + 3 <= stop; p++) {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            path = memchr(p + 3, '/', stop - (p + 3));
            if (path == NULL)
                return rb_utf8_str_new("/", 1);
            break;
        }
    }
    return cgi_value(path, stop - path);
}

/* Speedups.rack_env(req_address, base) -> Hash: `base` with nhttps's CGI
 * and mod_ssl variables of the request (names frozen and shared between
 * requests, values new Strings) and PATH_INFO, REQUEST_URI's path (its own
 * String). Raises the result's error as Native.check! does. */
static VALUE speedups_rack_env(VALUE self, VALUE req, VALUE base) {
    if (cgi_variables == NULL)
        rb_raise(rb_eRuntimeError, "Nhttps::Speedups.bind was not called");
    Check_Type(base, T_HASH);
    const void *message = (const void *)(uintptr_t)NUM2ULL(req);
    const uint8_t *block = NULL;
    size_t size = 0;
    int rc = cgi_variables(message, &block, &size);
    if (rc != 0) {
        rb_funcall(native, id_check, 1, INT2NUM(rc));
        rb_raise(rb_eRuntimeError, "nhttps: result %d was not raised", rc);
    }
    VALUE env = rb_hash_dup(base);
    const char *p = (const char *)block, *stop = p + size;
    const char *target = NULL;
    long target_len = 0;
    while (p < stop) {
        const char *name_end = memchr(p, '\0', stop - p);
        if (name_end == NULL)
            break;
        const char *value = name_end + 1;
        const char *value_end = value < stop ? memchr(value, '\0', stop - value) : NULL;
        if (value_end == NULL)
            break;
        long name_len = name_end - p, value_len = value_end - value;
        rb_hash_aset(env, name_string(p, name_len), cgi_value(value, value_len));
        if (name_len == 11 && memcmp(p, "REQUEST_URI", 11) == 0) {
            target = value;
            target_len = value_len;
        }
        p = value_end + 1;
    }
    if (target != NULL)
        rb_hash_aset(env, name_string("PATH_INFO", 9), path_info(target, target_len));
    return env;
}

struct block {
    VALUE out;
    int ok;
};

static int add_field(VALUE name, VALUE value, VALUE arg) {
    struct block *b = (struct block *)arg;
    if (!RB_TYPE_P(name, T_STRING) || !RB_TYPE_P(value, T_STRING) ||
        memchr(RSTRING_PTR(name), '\0', RSTRING_LEN(name)) != NULL ||
        memchr(RSTRING_PTR(value), '\0', RSTRING_LEN(value)) != NULL ||
        memchr(RSTRING_PTR(value), '\n', RSTRING_LEN(value)) != NULL) {
        b->ok = 0;
        return ST_STOP;
    }
    /* A String's bytes need not end with a NUL (RSTRING_PTR does not promise one). */
    rb_str_buf_cat(b->out, RSTRING_PTR(name), RSTRING_LEN(name));
    rb_str_buf_cat(b->out, "", 1);
    rb_str_buf_cat(b->out, RSTRING_PTR(value), RSTRING_LEN(value));
    rb_str_buf_cat(b->out, "", 1);
    return ST_CONTINUE;
}

/* Speedups.header_block(headers) -> String or nil: a Hash of String names
 * and values as nhttps's raw header block (each followed by a NUL, bytes
 * as given, binary); nil when a name or value is not a String or holds a
 * NUL or a newline (ServerResponse.raw_headers then splits the lines or
 * says what is wrong). */
static VALUE speedups_header_block(VALUE self, VALUE headers) {
    if (!RB_TYPE_P(headers, T_HASH))
        return Qnil;
    struct block b = {rb_str_buf_new(256), 1};
    rb_hash_foreach(headers, add_field, (VALUE)&b);
    return b.ok ? b.out : Qnil;
}

void Init_speedups(void) {
    VALUE nhttps = rb_define_module("Nhttps");
    VALUE speedups = rb_define_module_under(nhttps, "Speedups");
    id_check = rb_intern("check!");
    native = Qnil;
    rb_gc_register_address(&native);
    rb_define_module_function(speedups, "bind", speedups_bind, 2);
    rb_define_module_function(speedups, "rack_env", speedups_rack_env, 2);
    rb_define_module_function(speedups, "header_block", speedups_header_block, 1);
}
