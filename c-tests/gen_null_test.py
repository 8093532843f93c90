#!/usr/bin/env python3
"""Generates the NULL-argument test from the public header.

  gen_null_test.py include/nhttps.h build/tests/test_null_args.c

Every function the header declares is found by parsing its prototypes, so a
function added later cannot escape the test. For each pointer parameter of
each function, the generated test calls the function once with NULL for that
parameter and real, valid values for all the others, then checks that:

  * a function returning nhttps_result returns a failure (not NHTTPS_OK, and
    not NHTTPS_ERR_PANIC, which would mean a bug was caught at the boundary),
    and, for NHTTPS_ERR_NULL_ARGUMENT, that the thread's message names the
    argument;
  * a function returning a pointer returns NULL;
  * a function returning a number or bool returns 0 / false;
  * a void function (the _free functions) returns at all: no crash;
  * no object comes out of an out-parameter (one that does is freed and
    reported).

Handles are real objects: made with the *_new functions where a constructor
exists, or, for objects only nhttps can make (a request, a response, a
connection's socket info, an upgraded socket), taken from inside a real
server's `request` and `upgrade` callbacks fed by curl and Python.

What is not tested, and why, is kept explicitly below (ALLOWED_NULL and
EXCLUDED): a parameter documented to accept NULL is skipped, with the reason;
a handle type without a provider makes the generated test FAIL (teach
PROVIDERS below how to make one) rather than pass silently.
"""
import re
import sys

# ---- what may be NULL, and why ---------------------------------------------
# (function, parameter) -> reason. Every `void *userdata` is opaque and never
# dereferenced by nhttps, so NULL is always fine for it (see USERDATA).
ALLOWED_NULL = {
    ("nhttps_agent_new", "options"): "NULL means the default options (documented)",
    ("nhttps_agent_stats", "name"): "NULL means totals over all hosts (documented)",
    ("nhttps_agent_stats", "in_use_out"): "each out-pointer may be NULL (documented)",
    ("nhttps_agent_stats", "free_out"): "each out-pointer may be NULL (documented)",
    ("nhttps_agent_stats", "queued_out"): "each out-pointer may be NULL (documented)",
    ("nhttps_request_options_set_agent", "agent"): "NULL selects the global agent (documented)",
    ("nhttps_server_listen", "host"): "NULL means every address (documented)",
    ("nhttps_server_response_write_head", "message"): "NULL keeps the standard status message (documented)",
    ("nhttps_server_options_set_sni_callback", "callback"): "NULL removes the SNI callback (documented)",
    ("nhttps_server_on_request", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_check_continue", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_connection", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_upgrade", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_client_error", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_tls_client_error", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_secure_connection", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_keylog", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_close", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_listening", "callback"): "NULL removes the listener (documented)",
    ("nhttps_server_on_thread_exit", "callback"): "NULL removes the listener (documented)",
}
USERDATA = "userdata"  # a parameter of this name is opaque: NULL is always allowed

# Functions not called at all: function -> reason. Every function here would
# block or have side effects unsafe in a test even with a NULL argument.
# (None today: with one argument NULL every call must fail before doing
# anything; data pointers are given a non-zero length so that NULL is an
# error, and client requests point at 127.0.0.1:1, where nothing listens.)
EXCLUDED = {}

# ---- how to make each handle -----------------------------------------------
# type -> (context, C type of the variable, expression, free statement with {}
#          for the variable, or None)
#   context "plain": made on the test's main thread;
#   "request": available inside the server's `request` callback
#              (variables ctx_req and ctx_res);
#   "upgrade": available inside the server's `upgrade` callback (ctx_socket).
PROVIDERS = {
    "nhttps_agent_options": ("plain", "nhttps_agent_options *", "nhttps_agent_options_new()", "nhttps_agent_options_free({})"),
    "nhttps_agent": ("plain", "const nhttps_agent *", "make_agent()", "nhttps_agent_free({})"),
    "nhttps_request_options": ("plain", "nhttps_request_options *", "make_request_options()", "nhttps_request_options_free({})"),
    "nhttps_client_request": ("plain", "nhttps_client_request *", "make_client_request()", "nhttps_client_request_free({})"),
    "nhttps_server_options": ("plain", "nhttps_server_options *", "make_server_options()", "nhttps_server_options_free({})"),
    "nhttps_server": ("plain", "nhttps_server *", "make_server()", "nhttps_server_free({})"),
    "nhttps_secure_context": ("plain", "const nhttps_secure_context *", "make_secure_context()", "nhttps_secure_context_free({})"),
    "nhttps_incoming_message": ("request", None, "ctx_req", None),
    "nhttps_server_response": ("request", None, "ctx_res", None),
    "nhttps_socket_info": ("request", None, "nhttps_incoming_message_socket(ctx_req)", None),
    "nhttps_socket": ("upgrade", None, "ctx_socket", None),
    # nhttps_certificate and nhttps_error: only ever the sole pointer
    # argument of their functions, so no real one is needed (a function that
    # needs one beside another NULL argument makes the test fail loudly).
}

# Free functions for objects that may come out of an out-parameter.
OUT_FREES = {
    "nhttps_server": "nhttps_server_free",
    "nhttps_agent": "nhttps_agent_free",
    "nhttps_secure_context": "nhttps_secure_context_free",
    "nhttps_request_options": "nhttps_request_options_free",
    "nhttps_client_request": "nhttps_client_request_free",
    "nhttps_incoming_message": "nhttps_incoming_message_free",
    "nhttps_socket": "nhttps_socket_free",
}

# Values for plain (non-handle) arguments.
STRING_VALUES = {  # parameter name -> C string literal; default "x"
    "url": '"https://127.0.0.1:1/"',
    "scheduling": '"lifo"',
    "version": '"TLSv1.2"',
    "host": '"127.0.0.1"',
    "hostname": '"localhost"',
    "name": '"x-test"',
    "value": '"v"',
    "path": '"/nonexistent/nhttps-null-test"',
    "method": '"GET"',
    "message": '"OK"',
    "auth": '"user:password"',
}
SCALAR_VALUES = {  # (type, parameter name) or type -> C expression
    ("uint16_t", "status"): "200",
    ("uint16_t", "port"): "1",
    ("size_t", "index"): "0",
    ("size_t", "count"): "1",
    ("size_t", "bytes"): "65536",
    "uint16_t": "1",
    "uint32_t": "1",
    "size_t": "16",
    "int": "0",
    "bool": "false",
}


def strip_block_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


class Param:
    def __init__(self, ctype, name, callbacks, handles):
        self.ctype = ctype
        self.name = name
        self.base = re.sub(r"\bconst\b|\*", "", ctype).strip()
        self.depth = ctype.count("*")
        self.is_callback = self.base in callbacks and self.depth == 0
        self.is_pointer = self.depth > 0 or self.is_callback
        self.is_handle = self.base in handles


class Function:
    def __init__(self, ret, name, params, doc):
        self.ret = ret
        self.name = name
        self.params = params
        self.doc = doc
        m = re.search(r"\*\*(?:Consumes|Frees) `(\w+)`", doc)
        self.consumes = m.group(1) if m else None


def norm_type(t):
    """Canonical spelling: "const char *const *", "nhttps_server **"."""
    t = re.sub(r"\s+", " ", t).strip()
    t = re.sub(r"\s*(\*+)\s*", r" \1", t)
    return t.strip()


def split_param(text):
    m = re.match(r"^(.*?)(\w+)$", text.strip())
    if not m:
        raise SystemExit(f"cannot parse parameter {text!r}")
    return norm_type(m.group(1)), m.group(2)


def parse(header):
    text = strip_block_comments(header)
    handles = set(re.findall(r"typedef struct (\w+) \1;", text))
    callbacks = {}
    for m in re.finditer(r"typedef\s+([^;()]*?)\(\*(\w+)\)\(([^;]*?)\);", text, re.S):
        ret = norm_type(m.group(1))
        params = [split_param(p) for p in m.group(3).split(",")]
        callbacks[m.group(2)] = (ret, params)
    start = text.index('extern "C" {')
    end = text.index('}  // extern "C"')
    body = text[start + len('extern "C" {'):end]
    functions = []
    doc = []
    pending = ""
    for line in body.splitlines():
        s = line.strip()
        if not pending and (s.startswith("//") or s.startswith("#") or not s):
            if s.startswith("//"):
                doc.append(s[2:].strip())
            continue
        pending += " " + s
        if pending.rstrip().endswith(";"):
            proto = re.sub(r"\s+", " ", pending.strip().rstrip(";"))
            m = re.match(r"^(.*?)\b(nhttps_\w+)\((.*)\)$", proto)
            if not m:
                raise SystemExit(f"cannot parse prototype {proto!r}")
            ret, name, params_text = norm_type(m.group(1)), m.group(2), m.group(3).strip()
            params = []
            if params_text and params_text != "void":
                for p in params_text.split(","):
                    ctype, pname = split_param(p)
                    params.append(Param(ctype, pname, callbacks, handles))
            functions.append(Function(ret, name, params, " ".join(doc)))
            pending = ""
            doc = []
    return handles, callbacks, functions


def ret_kind(ret):
    if ret == "void":
        return "VOID"
    if ret == "nhttps_result":
        return "RESULT"
    if "*" in ret:
        return "PTR"
    return "SCALAR"


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def generate(header_path, out_path):
    with open(header_path, encoding="utf-8") as f:
        handles, callbacks, functions = parse(f.read())
    names = {f.name for f in functions}
    problems = []  # generator-level failures, reported by the C test
    for (fn, arg) in ALLOWED_NULL:
        match = [f for f in functions if f.name == fn]
        if not match or arg not in [p.name for p in match[0].params]:
            problems.append(f"ALLOWED_NULL names {fn}({arg}), which the header no longer has")
    for fn in EXCLUDED:
        if fn not in names:
            problems.append(f"EXCLUDED names {fn}, which the header no longer has")

    cases = []  # dicts: fn, arg, context, code
    skipped = []  # (fn, arg, reason)
    for f in functions:
        if f.name in EXCLUDED:
            skipped.append((f.name, "*", EXCLUDED[f.name]))
            continue
        for p in f.params:
            if not p.is_pointer:
                continue
            if p.name == USERDATA:
                skipped.append((f.name, p.name, "opaque userdata, never dereferenced"))
                continue
            if (f.name, p.name) in ALLOWED_NULL:
                skipped.append((f.name, p.name, ALLOWED_NULL[(f.name, p.name)]))
                continue
            case = make_case(f, p, callbacks, problems)
            if case is not None:
                cases.append(case)

    out = []
    w = out.append
    w("/* GENERATED by c-tests/gen_null_test.py from include/nhttps.h. Do not edit:")
    w(" * edit the generator. Every pointer argument of every function, NULL in turn. */")
    w('#include "harness.h"')
    w("")
    w("#include <signal.h>")
    w("")
    w("/* ---- dummies for the callback types ---- */")
    for cb, (ret, params) in sorted(callbacks.items()):
        plist = ", ".join(f"{t} {n}" if not t.endswith("*") else f"{t}{n}" for t, n in params)
        w(f"static {ret} dummy_{cb}({plist}) {{")
        for _, n in params:
            w(f"    (void){n};")
        if ret == "void":
            pass
        elif "*" in ret:
            w("    return NULL;")
        elif ret == "bool":
            w("    return false;")
        else:
            w("    return 0;")
        w("}")
    w("")
    w(f"#define CASE_COUNT {max(len(cases), 1)}")
    w(HELPERS)

    # case bodies, grouped by context
    by_context = {"plain": [], "request": [], "upgrade": []}
    for i, c in enumerate(cases):
        by_context[c["context"]].append((i, c))
    # request cases: those consuming ctx_res go last, one per request
    req_normal = [(i, c) for i, c in by_context["request"] if not c["consumes_ctx_res"]]
    req_consumers = [(i, c) for i, c in by_context["request"] if c["consumes_ctx_res"]]
    rounds = max(1, len(req_consumers)) if by_context["request"] else 0

    w("static void run_plain_cases(void) {")
    for i, c in by_context["plain"]:
        emit_case(w, i, c)
    w("}")
    w("")
    w("static atomic_int request_round;")
    w("static void run_request_cases(void *userdata, nhttps_incoming_message *ctx_req,")
    w("                              nhttps_server_response *ctx_res) {")
    w("    (void)userdata;")
    w("    int round = atomic_fetch_add(&request_round, 1);")
    w("    if (round == 0) {")
    for i, c in req_normal:
        emit_case(w, i, c, indent="        ")
    w("    }")
    for k, (i, c) in enumerate(req_consumers):
        w(f"    if (round == {k}) {{")
        emit_case(w, i, c, indent="        ")
        w("        return; /* ctx_res was consumed */")
        w("    }")
    w('    nhttps_server_response_end(ctx_res, (const uint8_t *)"ok", 2);')
    w("}")
    w("")
    w("static atomic_int upgrade_done;")
    w("static void run_upgrade_cases(void *userdata, nhttps_incoming_message *ctx_req,")
    w("                              nhttps_socket *ctx_socket, const uint8_t *head, size_t head_len) {")
    w("    (void)userdata; (void)ctx_req; (void)head; (void)head_len;")
    for i, c in by_context["upgrade"]:
        emit_case(w, i, c, indent="    ")
    w("    nhttps_socket_free(ctx_socket);")
    w("    atomic_store(&upgrade_done, 1);")
    w("}")
    w("")
    w(f"#define REQUEST_ROUNDS {rounds}")
    w(f"#define UPGRADE_CASES {len(by_context['upgrade'])}")
    w("")
    # per-function tests
    tested = []
    for f in functions:
        idx = [i for i, c in enumerate(cases) if c["fn"] == f.name]
        if not idx:
            continue
        tested.append(f.name)
        w(f"static void {f.name}_with_null_arguments(void) {{")
        for i in idx:
            w(f"    if (!check_row(&rows[{i}])) return;")
        w("}")
        w("")
    w("static void every_function_and_argument_is_covered(void) {")
    w("    /* What the generator found and skipped, for the log. */")
    total_ptr = sum(1 for f in functions for p in f.params if p.is_pointer)
    w(f'    fprintf(stderr, "null-args: {len(functions)} functions, {total_ptr} pointer '
      f'arguments, {len(cases)} NULL calls, {len(skipped)} skipped\\n");')
    for fn, arg, reason in skipped:
        w(f"    fprintf(stderr, \"  skipped %s(%s): %s\\n\", {c_string(fn)}, {c_string(arg)}, {c_string(reason)});")
    for prob in problems:
        w(f"    h_fail(__FILE__, __LINE__, \"%s\", {c_string(prob)});")
    if problems:
        w("    return;")
    w("}")
    w("")
    w(MAIN_TOP)
    for name in tested:
        w(f"    RUN({name}_with_null_arguments);")
    w("    RUN(null_argument_messages_name_the_argument);")
    w("    RUN(every_function_and_argument_is_covered);")
    w("    return h_finish();")
    w("}")
    with open(out_path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"gen_null_test: {len(functions)} functions, {len(cases)} NULL calls, "
          f"{len(skipped)} skipped, {len(problems)} problems -> {out_path}")


# Plain structs (not handles) with a `size` field first, filled by the library.
SIZED_STRUCTS = {"nhttps_stats"}


def make_case(f, target, callbacks, problems):
    """The C code of one call of `f` with `target` NULL."""
    contexts = set()
    decls, args, frees, outs = [], [], [], []
    consumed = f.consumes
    consumes_ctx_res = False
    for k, p in enumerate(f.params):
        var = f"a{k}"
        if p is target:
            args.append("NULL")
            continue
        if p.name == USERDATA and p.depth == 1 and p.base == "void":
            args.append("NULL")
        elif p.is_callback:
            args.append(f"dummy_{p.base}")
        elif p.base in SIZED_STRUCTS and p.depth == 1:
            # A struct the caller owns, its size field set (it can grow).
            decls.append(f"{p.base} {var} = {{.size = sizeof {var}}};")
            args.append(f"&{var}")
        elif p.is_handle and p.depth == 1:
            prov = PROVIDERS.get(p.base)
            if prov is None:
                problems.append(f"{f.name}: no way to make a {p.base} for argument '{p.name}' "
                                f"(teach PROVIDERS in c-tests/gen_null_test.py)")
                return None
            context, vtype, expr, free = prov
            contexts.add(context)
            if context == "plain":
                decls.append(f"{vtype}{var} = {expr};")
                if free is not None and p.name != consumed:
                    frees.append(free.format(var))
                args.append(var)
            else:
                args.append(expr)
                if p.name == consumed and expr == "ctx_res":
                    consumes_ctx_res = True
        elif p.is_handle and p.depth == 2:
            # an out-parameter for a new object
            inner = p.ctype[:-1].rstrip()  # drop one '*'
            decls.append(f"{inner}{var} = NULL;")
            args.append(f"&{var}")
            free = OUT_FREES.get(p.base)
            outs.append((var, free))
        elif p.base == "char" and p.depth == 1:
            args.append(STRING_VALUES.get(p.name, '"x"'))
        elif p.base == "char" and p.depth == 2 and "const char *const *" in p.ctype:
            decls.append(f'const char *const {var}[] = {{"http/1.1"}};')
            args.append(var)
        elif p.base == "char" and p.depth == 2:
            decls.append(f"const char *{var} = NULL;")
            args.append(f"&{var}")
        elif p.base == "uint8_t" and p.depth == 2:
            decls.append(f"const uint8_t *{var} = NULL;")
            args.append(f"&{var}")
        elif p.base == "uint8_t" and p.depth == 1:
            if "const" in p.ctype:
                args.append("dummy_bytes")
            else:
                decls.append(f"uint8_t {var}[256] = {{0}};")
                args.append(var)
        elif p.depth == 1 and p.base in ("size_t", "uint16_t", "uint32_t", "int", "bool"):
            decls.append(f"{p.base} {var} = 0;")
            args.append(f"&{var}")
        elif p.depth == 0:
            value = SCALAR_VALUES.get((p.base, p.name), SCALAR_VALUES.get(p.base))
            if value is None:
                problems.append(f"{f.name}: no value for a {p.ctype} ('{p.name}')")
                return None
            args.append(value)
        else:
            problems.append(f"{f.name}: no way to make a {p.ctype} for argument '{p.name}' "
                            f"(teach c-tests/gen_null_test.py)")
            return None
    if len(contexts - {"plain"}) > 1:
        problems.append(f"{f.name}: needs objects from both the request and the upgrade callback")
        return None
    context = next(iter(contexts - {"plain"}), "plain")
    kind = ret_kind(f.ret)
    call = f"{f.name}({', '.join(args)})"
    return {
        "fn": f.name,
        "arg": target.name,
        "context": context,
        "decls": decls,
        "call": call,
        "kind": kind,
        "ret": f.ret,
        "frees": frees,
        "outs": outs,
        "consumes_ctx_res": consumes_ctx_res,
    }


def emit_case(w, i, c, indent="    "):
    w(f"{indent}{{ /* {c['fn']}({c['arg']} = NULL) */")
    ind = indent + "    "
    for d in c["decls"]:
        w(f"{ind}{d}")
    w(f'{ind}begin_row(&rows[{i}], "{c["fn"]}", "{c["arg"]}");')
    if c["kind"] == "VOID":
        w(f"{ind}{c['call']};")
        w(f"{ind}end_row(&rows[{i}], KIND_VOID, 0);")
    elif c["kind"] == "RESULT":
        w(f"{ind}nhttps_result r = {c['call']};")
        w(f"{ind}end_row(&rows[{i}], KIND_RESULT, (long long)r);")
    elif c["kind"] == "PTR":
        w(f"{ind}const void *r = {c['call']};")
        w(f"{ind}end_row(&rows[{i}], KIND_PTR, r != NULL);")
    else:
        w(f"{ind}long long r = (long long){c['call']};")
        w(f"{ind}end_row(&rows[{i}], KIND_SCALAR, r);")
    for var, free in c["outs"]:
        w(f"{ind}if ({var} != NULL) {{")
        w(f"{ind}    rows[{i}].object_out = true;")
        if free:
            w(f"{ind}    {free}({var});")
        w(f"{ind}}}")
    for fr in c["frees"]:
        w(f"{ind}{fr};")
    w(f"{indent}}}")


HELPERS = r"""
/* ---- what each call gave ---- */
enum kind { KIND_VOID, KIND_RESULT, KIND_PTR, KIND_SCALAR };
struct row {
    const char *fn, *arg;
    bool started, done, object_out;
    enum kind kind;
    long long value; /* the result code, the pointer's non-NULL-ness, or the number */
    char message[200];
};

static struct row rows[CASE_COUNT];
static const uint8_t dummy_bytes[256] = {1};

/* Written before each call, so a crash names the call in the .err log. */
static void begin_row(struct row *row, const char *fn, const char *arg) {
    row->fn = fn;
    row->arg = arg;
    row->started = true;
    fprintf(stderr, "null-args: %s(%s = NULL)\n", fn, arg);
}

static void end_row(struct row *row, enum kind kind, long long value) {
    row->kind = kind;
    row->value = value;
    snprintf(row->message, sizeof row->message, "%s", nhttps_last_error_message());
    row->done = true;
}

static bool check_row(const struct row *row) {
    if (!row->done) {
        h_fail(__FILE__, __LINE__, "%s(%s = NULL) was never run (its callback context did not run)",
               row->fn ? row->fn : "?", row->arg ? row->arg : "?");
        return false;
    }
    if (row->object_out) {
        h_fail(__FILE__, __LINE__, "%s(%s = NULL) gave an object through its out-parameter",
               row->fn, row->arg);
        return false;
    }
    switch (row->kind) {
    case KIND_VOID:
        return true;
    case KIND_RESULT:
        if (row->value == NHTTPS_OK || row->value == NHTTPS_ERR_PANIC) {
            h_fail(__FILE__, __LINE__, "%s(%s = NULL) -> %s (%s), expected a failure such as NHTTPS_ERR_NULL_ARGUMENT",
                   row->fn, row->arg, nhttps_result_name((int)row->value), row->message);
            return false;
        }
        return true;
    case KIND_PTR:
        if (row->value != 0) {
            h_fail(__FILE__, __LINE__, "%s(%s = NULL) returned a non-NULL pointer", row->fn, row->arg);
            return false;
        }
        return true;
    case KIND_SCALAR:
        if (row->value != 0) {
            h_fail(__FILE__, __LINE__, "%s(%s = NULL) returned %lld, expected 0/false", row->fn,
                   row->arg, row->value);
            return false;
        }
        return true;
    }
    return false;
}

/* ---- real objects ---- */
/* For NHTTPS_ERR_NULL_ARGUMENT, the thread's message ("argument 'x' is
 * NULL") should name the parameter the header declares. */
static bool message_names_argument(const struct row *row) {
    if (!row->done || row->kind != KIND_RESULT || row->value != NHTTPS_ERR_NULL_ARGUMENT) {
        return true;
    }
    char quoted[80];
    snprintf(quoted, sizeof quoted, "'%s'", row->arg);
    return strstr(row->message, quoted) != NULL;
}

static void null_argument_messages_name_the_argument(void) {
    char wrong[4096] = "";
    int count = 0;
    for (int i = 0; i < CASE_COUNT; i++) {
        if (!message_names_argument(&rows[i])) {
            size_t len = strlen(wrong);
            snprintf(wrong + len, sizeof wrong - len, "%s%s(%s): \"%s\"", count ? "; " : "",
                     rows[i].fn, rows[i].arg, rows[i].message);
            count++;
        }
    }
    CHECK_MSG(count == 0, "%d calls name another argument than the NULL one: %s", count, wrong);
}

static nhttps_server_options *make_server_options(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    return options;
}

static nhttps_server *make_server(void) {
    nhttps_server_options *options = make_server_options();
    nhttps_server *server = NULL;
    if (nhttps_server_new(options, &server) != NHTTPS_OK) {
        fprintf(stderr, "null-args: cannot make a server: %s\n", nhttps_last_error_message());
        abort();
    }
    nhttps_server_options_free(options);
    return server;
}

static const nhttps_secure_context *make_secure_context(void) {
    nhttps_server_options *options = make_server_options();
    const nhttps_secure_context *context = NULL;
    if (nhttps_secure_context_new(options, &context) != NHTTPS_OK) {
        fprintf(stderr, "null-args: cannot make a context: %s\n", nhttps_last_error_message());
        abort();
    }
    nhttps_server_options_free(options);
    return context;
}

static const nhttps_agent *make_agent(void) {
    const nhttps_agent *agent = NULL;
    if (nhttps_agent_new(NULL, &agent) != NHTTPS_OK) {
        abort();
    }
    return agent;
}

/* Options aimed at 127.0.0.1:1, where nothing listens: should a call go
 * ahead by mistake, it fails at once instead of reaching the network. */
static nhttps_request_options *make_request_options(void) {
    nhttps_request_options *options = nhttps_request_options_new();
    nhttps_request_options_set_host(options, "127.0.0.1");
    nhttps_request_options_set_port(options, 1);
    nhttps_request_options_set_connect_timeout_ms(options, 2000);
    nhttps_request_options_set_timeout_ms(options, 2000);
    return options;
}

static nhttps_client_request *make_client_request(void) {
    nhttps_request_options *options = make_request_options();
    nhttps_client_request *request = NULL;
    if (nhttps_client_request_new(options, &request) != NHTTPS_OK) {
        abort();
    }
    nhttps_request_options_free(options);
    return request;
}
"""

MAIN_TOP = r"""
/* Runs the calls that need a request, a response or an upgraded socket
 * inside a real server's callbacks. */
static void run_server_cases(void) {
    if (REQUEST_ROUNDS == 0 && UPGRADE_CASES == 0) {
        return;
    }
    nhttps_server *server = h_start_server(run_request_cases, NULL);
    if (server == NULL) {
        fprintf(stderr, "null-args: cannot start a server: %s\n", nhttps_last_error_message());
        return;
    }
    nhttps_server_on_upgrade(server, run_upgrade_cases, NULL);
    if (REQUEST_ROUNDS > 0) {
        char urls[4096] = "";
        for (int i = 0; i < REQUEST_ROUNDS; i++) {
            size_t len = strlen(urls);
            snprintf(urls + len, sizeof urls - len, " https://127.0.0.1:%u/%d", (unsigned)h_port, i);
        }
        free(h_capture(NULL, CURL " -o /dev/null%s 2>/dev/null", urls));
    }
    if (UPGRADE_CASES > 0) {
        const char *request = "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: null-test\r\n"
                              "Connection: Upgrade\r\n\r\n";
        free(h_tls_exchange(h_port, request, strlen(request)));
        h_wait_for(&upgrade_done, 10000);
    }
    nhttps_server_free(server);
}

int main(void) {
    alarm(300); /* a call that blocks instead of failing ends the test */
    run_plain_cases();
    run_server_cases();"""


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: gen_null_test.py include/nhttps.h OUT.c")
    generate(sys.argv[1], sys.argv[2])
