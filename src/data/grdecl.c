/* Eclipse/OPM keyword files (GRDECL) for bo_convert (bo_io.h): a parser from
 * text to {grid, keyword arrays}, the conversion of one property to a 3-D
 * member of counts with its ACTNUM mask, and the mask's dataset. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bo_io.h"
#include "dataimpl.h"

/* At most this many values per keyword and cells per grid (800 MB of doubles). */
#define MAX_VALUES 100000000L

/* Keywords without a record (section headers and switches). */
static const char *const no_record[] = {"RUNSPEC", "GRID",     "EDIT", "PROPS",  "REGIONS", "SOLUTION",
                                        "SUMMARY", "SCHEDULE", "ECHO", "NOECHO", NULL};
/* Keywords that change other keywords' meaning or bring other files. */
static const char *const refused[] = {"INCLUDE", "BOX", "ENDBOX", "EQUALS", "COPY", "ADD", "MULTIPLY", NULL};
/* Numeric keywords that are not cell properties. */
static const char *const not_property[] = {"ACTNUM", "COORD", "ZCORN", "MAPAXES", NULL};

static PetscBool in_list(const char *const *list, const char *name)
{
  for (int i = 0; list[i]; i++)
    if (!strcmp(list[i], name)) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* The parser's state: where it is, and the keyword whose record is open. */
typedef struct {
  MPI_Comm         comm;
  const char      *path;
  PetscInt         line;
  BOGrdeclKeyword *cur; /* NULL: between records */
  size_t           alloc;
  BOGrdecl        *g;
} Parser;

static PetscErrorCode push_value(Parser *p, double v)
{
  BOGrdeclKeyword *k = p->cur;

  PetscFunctionBegin;
  if ((size_t)k->n == p->alloc) {
    p->alloc = p->alloc ? 2 * p->alloc : 1024;
    PetscCall(PetscRealloc(p->alloc * sizeof(double), &k->v));
  }
  k->v[k->n++] = v;
  PetscFunctionReturn(0);
}

/* A number token: "v", "N*v"; "N*" (defaults) is refused. */
static PetscErrorCode number_token(Parser *p, const char *tok)
{
  const char *star = strchr(tok, '*');
  char       *end;
  double      v;
  long        rep = 1;

  PetscFunctionBegin;
  if (star) {
    rep = strtol(tok, &end, 10);
    PetscCheck(end == star && rep >= 1 && end > tok, p->comm, PETSC_ERR_ARG_WRONG,
               "%s: line %" PetscInt_FMT ": bad repeat '%s' in %s (N*value with N >= 1)", p->path, p->line, tok,
               p->cur->name);
    PetscCheck(star[1], p->comm, PETSC_ERR_SUP,
               "%s: line %" PetscInt_FMT ": '%s' (default values) in %s is not supported; give the values", p->path,
               p->line, tok, p->cur->name);
    tok = star + 1;
  }
  PetscCheck(rep <= MAX_VALUES - p->cur->n, p->comm, PETSC_ERR_SUP,
             "%s: line %" PetscInt_FMT ": %s has more than %ld values", p->path, p->line, p->cur->name, MAX_VALUES);
  v = strtod(tok, &end);
  PetscCheck(end > tok && *end == 0 && isfinite(v), p->comm, PETSC_ERR_ARG_WRONG,
             "%s: line %" PetscInt_FMT ": '%s' is not a number (in the %s record of line %" PetscInt_FMT
             "; a missing '/'?)",
             p->path, p->line, tok, p->cur->name, p->cur->line);
  for (long i = 0; i < rep; i++) PetscCall(push_value(p, v));
  PetscFunctionReturn(0);
}

/* SPECGRID / DIMENS: the grid; the record is closed. */
static PetscErrorCode take_grid(Parser *p)
{
  BOGrdeclKeyword *k = p->cur;
  BOGrdecl        *g = p->g;

  PetscFunctionBegin;
  PetscCheck(k->n >= 3, p->comm, PETSC_ERR_ARG_WRONG, "%s: line %" PetscInt_FMT ": %s needs NX NY NZ", p->path, k->line,
             k->name);
  for (int i = 0; i < 3; i++)
    PetscCheck(k->v[i] >= 1 && k->v[i] == floor(k->v[i]) && k->v[i] < 1e9, p->comm, PETSC_ERR_ARG_WRONG,
               "%s: line %" PetscInt_FMT ": %s: %s is not a positive grid size", p->path, k->line, k->name,
               bo_fmt_g(k->v[i]));
  PetscCheck(!g->dims[0] || (g->dims[0] == (PetscInt)k->v[0] && g->dims[1] == (PetscInt)k->v[1] &&
                             g->dims[2] == (PetscInt)k->v[2]),
             p->comm, PETSC_ERR_ARG_WRONG, "%s: line %" PetscInt_FMT ": %s disagrees with %s of line %" PetscInt_FMT,
             p->path, k->line, k->name, g->dims_keyword, g->dims_line);
  PetscCheck(k->v[0] * k->v[1] * k->v[2] <= MAX_VALUES, p->comm, PETSC_ERR_SUP,
             "%s: line %" PetscInt_FMT ": %s: more than %ld cells", p->path, k->line, k->name, MAX_VALUES);
  for (int i = 0; i < 3; i++) g->dims[i] = (PetscInt)k->v[i];
  g->dims_line = k->line;
  PetscCall(PetscStrncpy(g->dims_keyword, k->name, sizeof(g->dims_keyword)));
  PetscCall(PetscFree(k->v));
  g->nkw--; /* the grid is not kept as a keyword */
  PetscFunctionReturn(0);
}

static PetscErrorCode close_record(Parser *p)
{
  PetscFunctionBegin;
  if (!strcmp(p->cur->name, "SPECGRID") || !strcmp(p->cur->name, "DIMENS")) PetscCall(take_grid(p));
  p->cur = NULL;
  PetscFunctionReturn(0);
}

/* A keyword token between records: open its record (or skip or refuse it). */
static PetscErrorCode keyword_token(Parser *p, const char *tok)
{
  BOGrdecl *g = p->g;

  PetscFunctionBegin;
  PetscCheck(isalpha((unsigned char)tok[0]) && strlen(tok) < sizeof(g->kw[0].name), p->comm, PETSC_ERR_ARG_WRONG,
             "%s: line %" PetscInt_FMT ": '%s' where a keyword was expected", p->path, p->line, tok);
  if (in_list(no_record, tok)) PetscFunctionReturn(0);
  PetscCheck(!in_list(refused, tok), p->comm, PETSC_ERR_SUP, "%s: line %" PetscInt_FMT ": %s is not supported%s",
             p->path, p->line, tok, strcmp(tok, "INCLUDE") ? "" : " (put the included file's keywords in one file)");
  for (PetscInt i = 0; i < g->nkw; i++)
    PetscCheck(strcmp(g->kw[i].name, tok), p->comm, PETSC_ERR_ARG_WRONG,
               "%s: line %" PetscInt_FMT ": %s given twice (first on line %" PetscInt_FMT ")", p->path, p->line, tok,
               g->kw[i].line);
  PetscCall(PetscRealloc((size_t)(g->nkw + 1) * sizeof(*g->kw), &g->kw));
  p->cur = &g->kw[g->nkw++];
  PetscCall(PetscMemzero(p->cur, sizeof(*p->cur)));
  PetscCall(PetscStrncpy(p->cur->name, tok, sizeof(p->cur->name)));
  p->cur->line = p->line;
  p->alloc     = 0;
  PetscFunctionReturn(0);
}

/* A token inside a record. */
static PetscErrorCode value_token(Parser *p, const char *tok)
{
  PetscBool grid = !strcmp(p->cur->name, "SPECGRID") || !strcmp(p->cur->name, "DIMENS") ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBegin;
  if (tok[0] == '\'') p->cur->text = PETSC_TRUE;           /* a string: the keyword is no property */
  else if (grid && p->cur->n >= 3) PetscFunctionReturn(0); /* NUMRES, COORDTYPE */
  else PetscCall(number_token(p, tok));
  PetscFunctionReturn(0);
}

/* Tokens of one line (comments cut off): words, quoted strings and '/'. */
static PetscErrorCode parse_line(Parser *p, char *s, PetscBool *end)
{
  PetscFunctionBegin;
  for (;;) {
    char *t, c;
    while (*s && isspace((unsigned char)*s)) s++;
    if (!*s) break;
    if (*s == '/') {
      PetscCheck(p->cur, p->comm, PETSC_ERR_ARG_WRONG, "%s: line %" PetscInt_FMT ": '/' without a keyword", p->path,
                 p->line);
      PetscCall(close_record(p));
      s++;
      continue;
    }
    t = s;
    if (*s == '\'') {
      char *q = strchr(s + 1, '\'');
      PetscCheck(q, p->comm, PETSC_ERR_ARG_WRONG, "%s: line %" PetscInt_FMT ": unterminated quote", p->path, p->line);
      s = q + 1;
    } else
      while (*s && !isspace((unsigned char)*s) && *s != '/' && *s != '\'') s++;
    c = *s, *s = 0;
    if (p->cur) PetscCall(value_token(p, t));
    else if (!strcmp(t, "END")) *end = PETSC_TRUE;
    else PetscCall(keyword_token(p, t));
    *s = c;
    if (*end) break;
  }
  PetscFunctionReturn(0);
}

/* The lines of text (a writable copy) through the parser. */
static PetscErrorCode parse_lines(Parser *p, char *s)
{
  PetscBool end = PETSC_FALSE;

  PetscFunctionBegin;
  while (*s && !end) {
    char *eol = strchr(s, '\n'), *next = eol ? eol + 1 : s + strlen(s), *comment;
    if (eol) *eol = 0;
    if ((comment = strstr(s, "--"))) *comment = 0;
    p->line++;
    PetscCall(parse_line(p, s, &end));
    s = next;
  }
  PetscCheck(!p->cur, p->comm, PETSC_ERR_ARG_WRONG, "%s: the %s record of line %" PetscInt_FMT " has no closing '/'",
             p->path, p->cur ? p->cur->name : "", p->cur ? p->cur->line : 0);
  PetscFunctionReturn(0);
}

PetscErrorCode BOGrdeclParse(MPI_Comm comm, const char *path, const char *text, BOGrdecl *g)
{
  Parser         p = {comm, path, 0, NULL, 0, g};
  char          *copy;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(g, sizeof(*g)));
  PetscCall(PetscStrallocpy(text, &copy));
  ierr = parse_lines(&p, copy);
  PetscCall(PetscFree(copy));
  if (ierr) PetscCall(BOGrdeclDestroy(g)); /* nothing is left allocated on error */
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode BOGrdeclRead(MPI_Comm comm, const char *path, BOGrdecl *g)
{
  unsigned char *text;
  size_t         len;

  PetscFunctionBegin;
  PetscCall(bo_read_whole_file(comm, path, &text, &len));
  PetscCall(PetscRealloc(len + 1, &text));
  text[len] = 0;
  PetscCheck(strlen((char *)text) == len, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: not a text file (a NUL byte)", path);
  PetscCall(BOGrdeclParse(comm, path, (const char *)text, g));
  PetscCall(PetscFree(text));
  PetscFunctionReturn(0);
}

PetscErrorCode BOGrdeclDestroy(BOGrdecl *g)
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < g->nkw; i++) PetscCall(PetscFree(g->kw[i].v));
  PetscCall(PetscFree(g->kw));
  g->nkw = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode BOQuantizeParse(MPI_Comm comm, const char *s, BOQuantize *q)
{
  const char *colon = strchr(s, ':');
  char       *end;
  long        levels;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(q, sizeof(*q)));
  if (!s[0]) PetscFunctionReturn(0);
  levels = colon ? strtol(colon + 1, &end, 10) : 0;
  PetscCheck(colon && end > colon + 1 && !*end && levels >= 1 && levels < BO_MAX_EXACT_COUNT, comm, PETSC_ERR_ARG_WRONG,
             "-quantize %s: give linear:LEVELS or log:LEVELS (LEVELS from 1 to 2^24 - 1)", s);
  if (!strncmp(s, "linear:", 7)) q->kind = BO_QUANTIZE_LINEAR;
  else if (!strncmp(s, "log:", 4)) q->kind = BO_QUANTIZE_LOG;
  else SETERRQ(comm, PETSC_ERR_ARG_WRONG, "-quantize %s: give linear:LEVELS or log:LEVELS", s);
  q->levels = levels;
  PetscFunctionReturn(0);
}

static const BOGrdeclKeyword *find_keyword(const BOGrdecl *g, const char *name)
{
  for (PetscInt i = 0; i < g->nkw; i++)
    if (!strcmp(g->kw[i].name, name)) return &g->kw[i];
  return NULL;
}

/* "PERMX, PORO": the property keywords of g. */
static void property_names(const BOGrdecl *g, char *s, size_t len, PetscInt *n)
{
  size_t at = 0;
  *n = 0, s[0] = 0;
  for (PetscInt i = 0; i < g->nkw && at < len; i++)
    if (!g->kw[i].text && !in_list(not_property, g->kw[i].name))
      at += (size_t)snprintf(s + at, len - at, "%s%s", (*n)++ ? ", " : "", g->kw[i].name);
}

static PetscErrorCode pick_keyword(MPI_Comm comm, const char *path, const BOGrdecl *g, const char *name,
                                   const BOGrdeclKeyword **k)
{
  char     names[512];
  PetscInt n;

  PetscFunctionBegin;
  property_names(g, names, sizeof(names), &n);
  if (name && name[0]) {
    *k = find_keyword(g, name);
    PetscCheck(*k, comm, PETSC_ERR_ARG_WRONG, "%s: no keyword %s (its properties: %s)", path, name, n ? names : "none");
    PetscCheck(!(*k)->text, comm, PETSC_ERR_ARG_WRONG, "%s: line %" PetscInt_FMT ": %s holds strings, not numbers",
               path, (*k)->line, name);
    PetscFunctionReturn(0);
  }
  PetscCheck(n >= 1, comm, PETSC_ERR_ARG_WRONG, "%s: no property keyword (such as PERMX or PORO)", path);
  PetscCheck(n == 1, comm, PETSC_ERR_ARG_WRONG, "%s: several properties (%s): choose one with -keyword NAME", path,
             names);
  for (PetscInt i = 0; i < g->nkw; i++)
    if (!g->kw[i].text && !in_list(not_property, g->kw[i].name)) *k = &g->kw[i];
  PetscFunctionReturn(0);
}

/* The grid: -shape (checked against SPECGRID/DIMENS) or SPECGRID/DIMENS. */
static PetscErrorCode grid_dims(MPI_Comm comm, const char *path, const BOGrdecl *g, const PetscInt shape[],
                                PetscInt dims[3], char *from, size_t len)
{
  PetscFunctionBegin;
  if (shape) {
    for (int i = 0; i < 3; i++) dims[i] = shape[i];
    for (int i = 0; i < 3; i++)
      PetscCheck(dims[i] >= 1, comm, PETSC_ERR_ARG_WRONG, "-shape: the axes Nx,Ny,Nz must be positive");
    PetscCheck((double)dims[0] * dims[1] * dims[2] <= MAX_VALUES, comm, PETSC_ERR_SUP, "-shape: more than %ld cells",
               MAX_VALUES);
    PetscCheck(!g->dims[0] || (g->dims[0] == dims[0] && g->dims[1] == dims[1] && g->dims[2] == dims[2]), comm,
               PETSC_ERR_ARG_WRONG,
               "-shape %" PetscInt_FMT ",%" PetscInt_FMT ",%" PetscInt_FMT
               " disagrees with %s %s of line %" PetscInt_FMT " (%" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT
               ")",
               dims[0], dims[1], dims[2], path, g->dims_keyword, g->dims_line, g->dims[0], g->dims[1], g->dims[2]);
    snprintf(from, len, "-shape %d,%d,%d", (int)dims[0], (int)dims[1], (int)dims[2]);
    PetscFunctionReturn(0);
  }
  PetscCheck(g->dims[0], comm, PETSC_ERR_ARG_WRONG, "%s: no grid: give -shape Nx,Ny,Nz or a SPECGRID or DIMENS record",
             path);
  for (int i = 0; i < 3; i++) dims[i] = g->dims[i];
  snprintf(from, len, "the grid (%s, line %d)", g->dims_keyword, (int)g->dims_line);
  PetscFunctionReturn(0);
}

/* The ACTNUM mask (all active without ACTNUM). */
static PetscErrorCode active_cells(MPI_Comm comm, const char *path, const BOGrdecl *g, PetscInt n, const char *from,
                                   unsigned char *active)
{
  const BOGrdeclKeyword *a = find_keyword(g, "ACTNUM");

  PetscFunctionBegin;
  for (PetscInt c = 0; c < n; c++) active[c] = 1;
  if (!a) PetscFunctionReturn(0);
  PetscCheck(a->n == n, comm, PETSC_ERR_ARG_SIZ,
             "%s: ACTNUM (line %" PetscInt_FMT ") has %" PetscInt_FMT " values, but %s has %" PetscInt_FMT " cells",
             path, a->line, a->n, from, n);
  for (PetscInt c = 0; c < n; c++) {
    PetscCheck(a->v[c] == 0 || a->v[c] == 1, comm, PETSC_ERR_ARG_WRONG,
               "%s: ACTNUM (line %" PetscInt_FMT "), value %" PetscInt_FMT ": %s is neither 0 nor 1", path, a->line,
               c + 1, bo_fmt_g(a->v[c]));
    active[c] = a->v[c] == 1;
  }
  PetscFunctionReturn(0);
}

/* The range of the active cells' values (log10 of them for log). */
static PetscErrorCode value_range(MPI_Comm comm, const char *path, const BOGrdeclKeyword *k,
                                  const unsigned char *active, BOQuantize *q)
{
  PetscFunctionBegin;
  q->lo = INFINITY, q->hi = -INFINITY;
  for (PetscInt c = 0; c < k->n; c++) {
    double v = k->v[c];
    if (!active[c]) continue;
    PetscCheck(q->kind != BO_QUANTIZE_LOG || v > 0, comm, PETSC_ERR_ARG_OUTOFRANGE,
               "%s: %s (line %" PetscInt_FMT "), value %" PetscInt_FMT ": %s is not positive (-quantize log)", path,
               k->name, k->line, c + 1, bo_fmt_g(v));
    if (q->kind == BO_QUANTIZE_LOG) v = log10(v);
    q->lo = PetscMin(q->lo, v), q->hi = PetscMax(q->hi, v);
  }
  PetscFunctionReturn(0);
}

/* Counts of the active cells: the values themselves, or quantized. */
static PetscErrorCode to_counts(MPI_Comm comm, const char *path, const BOGrdeclKeyword *k, const unsigned char *active,
                                BOQuantize *q, float *x)
{
  PetscFunctionBegin;
  if (q->kind != BO_QUANTIZE_NONE) PetscCall(value_range(comm, path, k, active, q));
  for (PetscInt c = 0; c < k->n; c++) {
    double v = k->v[c];
    if (!active[c]) {
      x[c] = 0;
      continue;
    }
    if (q->kind == BO_QUANTIZE_NONE) {
      const char *why = BOCountProblem(v, BO_MAX_EXACT_COUNT, NULL);
      PetscCheck(!why, comm, PETSC_ERR_ARG_OUTOFRANGE,
                 "%s: %s (line %" PetscInt_FMT "), value %" PetscInt_FMT ": count %s (%s); use -quantize linear:LEVELS "
                 "or log:LEVELS",
                 path, k->name, k->line, c + 1, why, bo_fmt_g(v));
    } else {
      if (q->kind == BO_QUANTIZE_LOG) v = log10(v);
      v = q->hi > q->lo ? floor((v - q->lo) / (q->hi - q->lo) * q->levels + 0.5) : 0;
    }
    x[c] = (float)v;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOGrdeclCounts(MPI_Comm comm, const char *path, const BOGrdecl *g, const char *keyword,
                              const PetscInt shape[], BOQuantize *q, char chosen[32], PetscInt dims[3], float **x,
                              unsigned char **active)
{
  const BOGrdeclKeyword *k = NULL;
  char                   from[160];
  PetscInt               n;
  PetscErrorCode         ierr;

  PetscFunctionBegin;
  PetscCall(grid_dims(comm, path, g, shape, dims, from, sizeof(from)));
  PetscCall(pick_keyword(comm, path, g, keyword, &k));
  PetscCall(PetscStrncpy(chosen, k->name, 32));
  n = dims[0] * dims[1] * dims[2];
  PetscCheck(k->n == n, comm, PETSC_ERR_ARG_SIZ,
             "%s: %s (line %" PetscInt_FMT ") has %" PetscInt_FMT " values, but %s has %" PetscInt_FMT " cells", path,
             k->name, k->line, k->n, from, n);
  PetscCall(PetscMalloc1(n, x));
  PetscCall(PetscMalloc1(n, active));
  ierr = active_cells(comm, path, g, n, from, *active);
  if (!ierr) ierr = to_counts(comm, path, k, *active, q, *x);
  if (ierr) {
    PetscCall(PetscFree(*x));
    PetscCall(PetscFree(*active));
  }
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriterWriteActive(BOWriter w, PetscInt first, PetscInt count, const unsigned char *active)
{
  char    path[300];
  hsize_t dims[4]  = {(hsize_t)w->N, (hsize_t)w->shape[0], (hsize_t)w->shape[1], (hsize_t)w->shape[2]};
  hsize_t chunk[4] = {1, dims[1], dims[2], dims[3]};
  hid_t   space, dcpl, dset;
  int     one = 1;

  PetscFunctionBegin;
  PetscCheck(w->is_3d, w->comm, PETSC_ERR_ARG_WRONG, "%s: an active mask needs a 3-D field", w->path);
  PetscCall(BOWriterSetUp(w));
  bo_data_sibling_path(w->name, "active", path, sizeof(path));
  space = H5Screate_simple(4, dims, NULL);
  PetscCall(bo_writer_dataset_properties(w->deflate, 4, chunk, &dcpl));
  dset = H5Dcreate2(w->file, path, H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  BOCallHDF5(dset, "%s: cannot create dataset %s", w->path, path);
  BOCallHDF5(H5Sclose(space), "H5Sclose");
  BOCallHDF5(H5Pclose(dcpl), "H5Pclose");
  PetscCall(BOH5WriteAttr(dset, "timestepping", H5T_STD_I32LE, H5T_NATIVE_INT, 0, &one));
  PetscCall(BOH5WriteRows(dset, H5T_NATIVE_UCHAR, (hsize_t)first, (hsize_t)count, active));
  BOCallHDF5(H5Dclose(dset), "H5Dclose");
  PetscFunctionReturn(0);
}

/* The patch of P[0] x P[1] x P[2] cells at (x0, y0, z0) of a grid of Nx x Ny
 * cells per layer, element size es. */
static void cut_patch3d(const char *f, const PetscInt dims[3], const PetscInt P[3], const PetscInt at[3], size_t es,
                        char *out)
{
  for (PetscInt k = 0; k < P[2]; k++)
    for (PetscInt j = 0; j < P[1]; j++) {
      size_t from = (((size_t)(at[2] + k) * dims[1] + (size_t)(at[1] + j)) * dims[0] + (size_t)at[0]) * es;
      memcpy(out + (((size_t)k * P[1] + j) * P[0]) * es, f + from, (size_t)P[0] * es);
    }
}

PetscErrorCode BOGrdeclPatches(const PetscInt dims[3], const PetscInt P[3], const PetscInt S[3], PetscInt *N, float **x,
                               unsigned char **active)
{
  PetscInt       n[3], D = P[0] * P[1] * P[2], m = 0, at[3];
  float         *px;
  unsigned char *pa;

  PetscFunctionBegin;
  for (int i = 0; i < 3; i++)
    PetscCheck(P[i] >= 1 && P[i] <= dims[i] && S[i] >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "patch %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " and stride %" PetscInt_FMT
               " must be positive and fit the %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " grid",
               P[0], P[1], P[2], S[i], dims[0], dims[1], dims[2]);
  for (int i = 0; i < 3; i++) n[i] = (dims[i] - P[i]) / S[i] + 1;
  *N = n[0] * n[1] * n[2];
  PetscCall(PetscMalloc1((size_t)*N * D, &px));
  PetscCall(PetscMalloc1((size_t)*N * D, &pa));
  for (PetscInt bz = 0; bz < n[2]; bz++) /* members in natural order too: x fastest */
    for (PetscInt by = 0; by < n[1]; by++)
      for (PetscInt bx = 0; bx < n[0]; bx++, m++) {
        at[0] = bx * S[0], at[1] = by * S[1], at[2] = bz * S[2];
        cut_patch3d((const char *)*x, dims, P, at, sizeof(float), (char *)(px + (size_t)m * D));
        cut_patch3d((const char *)*active, dims, P, at, 1, (char *)(pa + (size_t)m * D));
      }
  PetscCall(PetscFree(*x));
  PetscCall(PetscFree(*active));
  *x = px, *active = pa;
  PetscFunctionReturn(0);
}
