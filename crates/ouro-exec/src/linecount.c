/* ouro-exec line counter: the harness's `lines_executed` tracer as a C trace
 * function. It counts exactly what harness.py's Python tracer counts (one per
 * call event and one per line event of code compiled as "<solution>", up to a
 * cap), but a C trace function costs a few nanoseconds an event where a Python
 * one costs a Python call: on HumanEval's heaviest canonical solutions the
 * tests run 2-3x faster under it. Built by ouro-exec (native.rs) with the
 * system C compiler against the sandbox interpreter's headers, loaded by the
 * fork server before any sandboxing, and optional: without it the harness
 * falls back to the Python tracer and gives the same counts. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

static PyObject *solution_name;  /* "<solution>" */
static long long count;
static long long cap;
static int capped;
/* The last code object seen and whether it is solution code. A strong
 * reference, so that a freed code object's address is never mistaken for it. */
static PyObject *last_code;
static int last_is_solution;

static int
is_solution(PyFrameObject *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    if ((PyObject *)code == last_code) {
        Py_DECREF(code);
        return last_is_solution;
    }
    Py_XSETREF(last_code, (PyObject *)code);
    last_is_solution = PyUnicode_Check(code->co_filename)
        && PyUnicode_Compare(code->co_filename, solution_name) == 0;
    return last_is_solution;
}

static int
trace(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj;
    (void)arg;
    if (what != PyTrace_CALL && what != PyTrace_LINE)
        return 0;
    if (!is_solution(frame))
        return 0;
    count++;
    if (count >= cap) {
        capped = 1;
        PyEval_SetTrace(NULL, NULL);
    }
    return 0;
}

/* start(cap): counts from zero; sys.gettrace() is this module until stopped. */
static PyObject *
start(PyObject *module, PyObject *arg)
{
    long long c = PyLong_AsLongLong(arg);
    if (c == -1 && PyErr_Occurred())
        return NULL;
    count = 0;
    cap = c;
    capped = 0;
    PyEval_SetTrace(trace, module);
    Py_RETURN_NONE;
}

/* counted() -> (count, whether the cap stopped counting) */
static PyObject *
counted(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return Py_BuildValue("(LO)", count, capped ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"start", start, METH_O, "start(cap): trace the current thread, counting from zero"},
    {"counted", counted, METH_NOARGS, "counted() -> (count, capped)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ouro_linecount", NULL, -1, methods,
};

PyMODINIT_FUNC
PyInit__ouro_linecount(void)
{
    solution_name = PyUnicode_InternFromString("<solution>");
    if (solution_name == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
