/* nhttps._speedups: the WSGI server's per-request calls into libnhttps,
 * made from C instead of through ctypes.
 *
 * Optional: nhttps.wsgi uses it when it was built (pip install, or
 * `make speedups` in a checkout) and does the same in Python
 * otherwise (NHTTPS_PURE_PYTHON=1 forces that). Every function here has a
 * Python twin in wsgi.py or server.py, and the tests run both.
 *
 * It links against nothing but Python: `bind` is given the addresses of
 * the library's functions from the ctypes handle the package has already
 * loaded, so the one libnhttps the package found is the one used.
 *
 * Ownership: the handles are libnhttps's, passed as ints, with the
 * lifetimes its header gives; nothing here keeps a pointer past a call.
 * What can block (waiting for a request, ending a response whose bytes
 * are sent before it returns) runs with the GIL released; the rest keeps
 * it, as the ctypes.PyDLL calls do. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef int (*take_request_fn)(const void *server, int timeout_ms, void **req_out,
                               void **res_out);
typedef int (*cgi_variables_fn)(const void *message, const uint8_t **block_out,
                                size_t *len_out);
typedef int (*set_head_fn)(void *response, uint16_t status, const char *message,
                           const char *raw_headers, size_t len);
typedef int (*end_fn)(void *response, const uint8_t *data, size_t len);

static take_request_fn take_request;
static cgi_variables_fn cgi_variables;
static set_head_fn set_head;
static end_fn end;
/* nhttps.errors.check: raises the Error of a result that is not NHTTPS_OK
 * (it reads this thread's message, still set: nothing ran in between). */
static PyObject *check;

/* Returns 0 when `rc` is NHTTPS_OK, else -1 with check's exception set. */
static int checked(int rc) {
    if (rc == 0)
        return 0;
    PyObject *r = PyObject_CallFunction(check, "i", rc);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    PyErr_Format(PyExc_RuntimeError, "nhttps: result %d was not raised", rc);
    return -1;
}

static int bound(void) {
    if (check != NULL)
        return 1;
    PyErr_SetString(PyExc_RuntimeError, "nhttps._speedups: bind() was not called");
    return 0;
}

static void *as_handle(PyObject *value) {
    return value == Py_None ? NULL : PyLong_AsVoidPtr(value);
}

PyDoc_STRVAR(bind_doc,
"bind(take_request, cgi_variables, set_head, end, check)\n\n"
"The addresses (ints) of nhttps_server_take_request,\n"
"nhttps_incoming_message_cgi_variables, nhttps_server_response_set_head and\n"
"nhttps_server_response_end, and the callable that raises a result's error.");

static PyObject *py_bind(PyObject *self, PyObject *args) {
    PyObject *a, *b, *c, *d, *raise;
    if (!PyArg_ParseTuple(args, "OOOOO:bind", &a, &b, &c, &d, &raise))
        return NULL;
    void *ta = PyLong_AsVoidPtr(a), *cg = PyLong_AsVoidPtr(b),
         *sh = PyLong_AsVoidPtr(c), *en = PyLong_AsVoidPtr(d);
    if (PyErr_Occurred())
        return NULL;
    if (!ta || !cg || !sh || !en || !PyCallable_Check(raise)) {
        PyErr_SetString(PyExc_ValueError, "bind: NULL function or check not callable");
        return NULL;
    }
    take_request = (take_request_fn)ta;
    cgi_variables = (cgi_variables_fn)cg;
    set_head = (set_head_fn)sh;
    end = (end_fn)en;
    Py_INCREF(raise);
    Py_XSETREF(check, raise);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(take_doc,
"take(server) -> (req, res) or None\n\n"
"The next queued request of `server` (an nhttps_server pointer) and its\n"
"response, as ints: the one waiting, without giving up the GIL, else the\n"
"next to come, waiting with the GIL released. None once the server has\n"
"closed and no request is left.");

static PyObject *py_take(PyObject *self, PyObject *arg) {
    if (!bound())
        return NULL;
    void *server = as_handle(arg);
    if (server == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "take: the server is NULL");
        return NULL;
    }
    void *req = NULL, *res = NULL;
    int rc = take_request(server, 0, &req, &res);
    if (rc != 0) {
        Py_BEGIN_ALLOW_THREADS
        rc = take_request(server, -1, &req, &res);
        Py_END_ALLOW_THREADS
    }
    if (rc != 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(NN)", PyLong_FromVoidPtr(req), PyLong_FromVoidPtr(res));
}

static int is_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int hex_value(unsigned char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* PEP 3333's PATH_INFO of a request target: the path (absolute-form's
 * scheme and authority dropped, the query cut off), percent-decoded bytes as Latin-1;
 * without a '%', the path as UTF-8 text, like REQUEST_URI. */
static PyObject *path_info(const char *target, size_t len) {
    const char *path = target, *stop = memchr(target, '?', len);
    if (stop == NULL)
        stop = target + len;
    for (const char *p = target; len > 0 && target[0] != '/' && p + 3 <= stop; p++) {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            /* absolute-form: from the "/" after the authority, or "/" */
            path = memchr(p + 3, '/', stop - (p + 3));
            if (path == NULL)
                return PyUnicode_FromStringAndSize("/", 1);
            break;
        }
    }
    size_t n = stop - path;
    if (memchr(path, '%', n) == NULL)
        return PyUnicode_DecodeUTF8(path, n, "replace");
    char *out = PyMem_Malloc(n);
    if (out == NULL)
        return PyErr_NoMemory();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = path[i];
        if (c == '%' && i + 2 < n && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
            out[o++] = (char)(hex_value(path[i + 1]) << 4 | hex_value(path[i + 2]));
            i += 2;
        } else {
            out[o++] = (char)c;
        }
    }
    PyObject *decoded = PyUnicode_DecodeLatin1(out, o, NULL);
    PyMem_Free(out);
    return decoded;
}

/* The names of the last block, by position: a request's variables come in
 * the same order as the last one's, mostly, so its names are the same str
 * objects (interned, as the application's literals are) instead of new
 * ones. Used with the GIL held. */
#define NAMES_KEPT 64
static PyObject *names_kept[NAMES_KEPT];

static PyObject *name_at(size_t i, const char *name, size_t len) {
    PyObject *kept = i < NAMES_KEPT ? names_kept[i] : NULL;
    if (kept != NULL && (size_t)PyUnicode_GET_LENGTH(kept) == len &&
        memcmp(PyUnicode_1BYTE_DATA(kept), name, len) == 0) {
        Py_INCREF(kept);
        return kept;
    }
    PyObject *fresh = PyUnicode_DecodeLatin1(name, len, NULL);
    if (fresh == NULL || i >= NAMES_KEPT)
        return fresh;
    PyUnicode_InternInPlace(&fresh);
    Py_INCREF(fresh);
    Py_XSETREF(names_kept[i], fresh);
    return fresh;
}

/* Variables of nhttps's block that are text (UTF-8) rather than header bytes. */
static int is_utf8_key(const char *name, size_t len) {
    static const char *const keys[] = {"REQUEST_URI", "QUERY_STRING", "SSL_CLIENT_S_DN",
                                       "SSL_CLIENT_I_DN"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == len && memcmp(keys[i], name, len) == 0)
            return 1;
    return 0;
}

static int is_ascii(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

PyDoc_STRVAR(environ_doc,
"environ(req, base, body) -> dict\n\n"
"A copy of `base` with nhttps's CGI and mod_ssl variables of the request\n"
"`req` (header values as Latin-1, REQUEST_URI, QUERY_STRING and the DNs as\n"
"UTF-8), PATH_INFO decoded from REQUEST_URI, and wsgi.input `body`.");

static PyObject *py_environ(PyObject *self, PyObject *args) {
    PyObject *req_obj, *base, *body;
    if (!PyArg_ParseTuple(args, "OO!O:environ", &req_obj, &PyDict_Type, &base, &body))
        return NULL;
    if (!bound())
        return NULL;
    void *req = as_handle(req_obj);
    if (req == NULL && PyErr_Occurred())
        return NULL;
    const uint8_t *block = NULL;
    size_t size = 0;
    if (checked(cgi_variables(req, &block, &size)) < 0)
        return NULL;
    PyObject *env = PyDict_Copy(base);
    if (env == NULL)
        return NULL;
    const char *p = (const char *)block, *stop = p + size;
    const char *target = NULL;
    size_t target_len = 0;
    for (size_t i = 0; p < stop; i++) {
        const char *name = p, *name_end = memchr(name, '\0', stop - name);
        if (name_end == NULL)
            break;
        const char *value = name_end + 1;
        const char *value_end = value < stop ? memchr(value, '\0', stop - value) : NULL;
        if (value_end == NULL)
            break;
        size_t name_len = name_end - name, value_len = value_end - value;
        PyObject *key = name_at(i, name, name_len);
        PyObject *val;
        if (is_utf8_key(name, name_len) && !is_ascii(value, value_len))
            val = PyUnicode_DecodeUTF8(value, value_len, "replace");
        else
            val = PyUnicode_DecodeLatin1(value, value_len, NULL);
        if (key == NULL || val == NULL || PyDict_SetItem(env, key, val) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(val);
            Py_DECREF(env);
            return NULL;
        }
        Py_DECREF(key);
        Py_DECREF(val);
        if (name_len == 11 && memcmp(name, "REQUEST_URI", 11) == 0) {
            target = value;
            target_len = value_len;
        }
        p = value_end + 1;
    }
    if (target == NULL) {
        Py_DECREF(env);
        PyErr_SetString(PyExc_KeyError, "REQUEST_URI");
        return NULL;
    }
    PyObject *path = path_info(target, target_len);
    if (path == NULL || PyDict_SetItemString(env, "PATH_INFO", path) < 0 ||
        PyDict_SetItemString(env, "wsgi.input", body) < 0) {
        Py_XDECREF(path);
        Py_DECREF(env);
        return NULL;
    }
    Py_DECREF(path);
    return env;
}

PyDoc_STRVAR(header_block_doc,
"header_block(headers) -> bytes or None\n\n"
"A list of (name, value) str tuples as nhttps's raw header block (each\n"
"name and value Latin-1, followed by a NUL); None when any item is not a\n"
"pair of str, is not Latin-1 or contains a NUL (the caller's slower path\n"
"then says what is wrong, or sends the fields one by one).");

static PyObject *py_header_block(PyObject *self, PyObject *headers) {
    if (!PyList_CheckExact(headers))
        Py_RETURN_NONE;
    Py_ssize_t count = PyList_GET_SIZE(headers), total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2)
            Py_RETURN_NONE;
        for (int j = 0; j < 2; j++) {
            PyObject *s = PyTuple_GET_ITEM(pair, j);
            if (!PyUnicode_CheckExact(s) || PyUnicode_READY(s) < 0 ||
                PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND)
                Py_RETURN_NONE;
            Py_ssize_t n = PyUnicode_GET_LENGTH(s);
            if (memchr(PyUnicode_1BYTE_DATA(s), '\0', n) != NULL)
                Py_RETURN_NONE;
            total += n + 1;
        }
    }
    PyObject *block = PyBytes_FromStringAndSize(NULL, total);
    if (block == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(block);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        for (int j = 0; j < 2; j++) {
            PyObject *s = PyTuple_GET_ITEM(pair, j);
            Py_ssize_t n = PyUnicode_GET_LENGTH(s);
            memcpy(out, PyUnicode_1BYTE_DATA(s), n);
            out += n;
            *out++ = '\0';
        }
    }
    return block;
}

PyDoc_STRVAR(set_head_doc,
"set_head(res, status, message, raw_headers)\n\n"
"nhttps_server_response_set_head: `status` an int, `message` bytes or None,\n"
"`raw_headers` a block from header_block. Raises the result's error.");

static PyObject *py_set_head(PyObject *self, PyObject *args) {
    PyObject *res_obj;
    unsigned short status;
    const char *message;
    Py_ssize_t message_len;
    const char *raw;
    Py_ssize_t raw_len;
    if (!PyArg_ParseTuple(args, "OHz#y#:set_head", &res_obj, &status, &message, &message_len,
                          &raw, &raw_len))
        return NULL;
    if (!bound())
        return NULL;
    void *res = as_handle(res_obj);
    if (res == NULL && PyErr_Occurred())
        return NULL;
    if (message != NULL && (size_t)message_len != strlen(message)) {
        PyErr_SetString(PyExc_ValueError, "set_head: the message contains a NUL");
        return NULL;
    }
    if (checked(set_head(res, status, message, raw, (size_t)raw_len)) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(end_doc,
"end(res, data, framed)\n\n"
"nhttps_server_response_end with `data` (bytes-like): with the GIL kept\n"
"when `framed` (a taken request's small end, which nhttps's threads send),\n"
"else released while the bytes are sent. Raises the result's error.");

static PyObject *py_end(PyObject *self, PyObject *args) {
    PyObject *res_obj;
    Py_buffer data;
    int framed;
    if (!PyArg_ParseTuple(args, "Oy*p:end", &res_obj, &data, &framed))
        return NULL;
    int rc = -1;
    void *res = bound() ? as_handle(res_obj) : NULL;
    if (!PyErr_Occurred() && framed) {
        rc = end(res, data.buf, (size_t)data.len);
    } else if (!PyErr_Occurred()) {
        Py_BEGIN_ALLOW_THREADS
        rc = end(res, data.buf, (size_t)data.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    if (PyErr_Occurred() || checked(rc) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bind", py_bind, METH_VARARGS, bind_doc},
    {"take", py_take, METH_O, take_doc},
    {"environ", py_environ, METH_VARARGS, environ_doc},
    {"header_block", py_header_block, METH_O, header_block_doc},
    {"set_head", py_set_head, METH_VARARGS, set_head_doc},
    {"end", py_end, METH_VARARGS, end_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nhttps._speedups",
    "The WSGI server's per-request calls into libnhttps, from C (see wsgi.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
