/* Readers of foreign formats for bo_convert (bo_io.h): CSV (plain or gzip),
 * MNIST idx, raw binary, and patches cut from fields. Every value is
 * validated with BOCountProblem; errors name the file and the first bad
 * line and column, or index. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "bo_dataset.h"
#include "bo_io.h"
#include "bo_rng.h"
#include "bo_sys.h"
#include "dataimpl.h"

const char *const BORawTypes[] = {"u8", "u16", "i16", "i32", "u32", "f32", "f64", "BORawType", "BO_RAW_", NULL};

/* dataimpl.h */
const char *bo_fmt_g(double v)
{
  static char buf[4][32];
  static int  k = 0;
  k             = (k + 1) % 4;
  snprintf(buf[k], sizeof(buf[k]), "%g", v);
  return buf[k];
}

/* The whole file (gzip or plain) into memory. */
PetscErrorCode bo_read_whole_file(MPI_Comm comm, const char *path, unsigned char **data, size_t *len)
{
  gzFile f     = gzopen(path, "rb");
  size_t alloc = 1 << 16, n = 0;
  int    got;

  PetscFunctionBegin;
  PetscCheck(f, comm, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  PetscCall(PetscMalloc(alloc, data));
  for (;;) {
    if (n == alloc) {
      alloc *= 2;
      PetscCall(PetscRealloc(alloc, data));
    }
    got = gzread(f, *data + n, (unsigned)PetscMin(alloc - n, (size_t)1 << 30));
    if (got <= 0) break;
    n += (size_t)got;
  }
  if (got < 0) {
    int  e;
    char msg[256]; /* gzerror's text lives in f: copied before gzclose frees it */
    snprintf(msg, sizeof(msg), "%s", gzerror(f, &e));
    if (e == Z_ERRNO) snprintf(msg, sizeof(msg), "%s", strerror(errno));
    gzclose(f);
    PetscCall(PetscFree(*data));
    SETERRQ(comm, PETSC_ERR_FILE_READ, "cannot read %s: %s", path, msg);
  }
  gzclose(f);
  *len = n;
  PetscFunctionReturn(0);
}

static PetscErrorCode array_set_shape(MPI_Comm comm, const char *path, BOArray *a, PetscInt ndim,
                                      const PetscInt shape[])
{
  PetscFunctionBegin;
  PetscCheck(ndim >= 1 && ndim <= 3, comm, PETSC_ERR_ARG_WRONG, "%s: shape must have 1 to 3 axes", path);
  a->ndim = ndim, a->D = 1;
  for (PetscInt i = 0; i < ndim; i++) {
    PetscCheck(shape[i] >= 1, comm, PETSC_ERR_ARG_WRONG, "%s: shape axes must be positive", path);
    a->shape[i] = shape[i], a->D *= shape[i];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOReadCSV(MPI_Comm comm, const char *path, PetscInt ndim, const PetscInt shape[], PetscInt label_column,
                         PetscInt drop_column, PetscBool skip_header, BOArray *a)
{
  unsigned char *text;
  size_t         len, alloc_n = 64;
  PetscInt       ncols = -1, line = 0, D = -1;
  char          *s, *end;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(a, sizeof(*a)));
  PetscCall(bo_read_whole_file(comm, path, &text, &len));
  PetscCall(PetscRealloc(len + 1, &text));
  text[len] = 0;
  s         = (char *)text;
  a->N      = 0;
  while (*s) {
    char    *eol = strchr(s, '\n'), *p;
    PetscInt col = 0, d = 0;
    if (eol) *eol = 0;
    end = eol ? eol + 1 : s + strlen(s);
    line++;
    if (eol && eol > s && eol[-1] == '\r') eol[-1] = 0;
    if ((line == 1 && skip_header) || strspn(s, " \t\r") == strlen(s)) {
      s = end;
      continue;
    }
    /* count columns on the first data line, then allocate */
    if (ncols < 0) {
      ncols = 1;
      for (p = s; *p; p++) ncols += *p == ',';
      PetscCheck(label_column < ncols && drop_column < ncols, comm, PETSC_ERR_ARG_WRONG,
                 "%s: line %" PetscInt_FMT " has %" PetscInt_FMT " columns; no column %" PetscInt_FMT, path, line,
                 ncols, PetscMax(label_column, drop_column));
      D = ncols - (label_column >= 0) - (drop_column >= 0 && drop_column != label_column);
      if (ndim > 0) {
        PetscCall(array_set_shape(comm, path, a, ndim, shape));
        PetscCheck(a->D == D, comm, PETSC_ERR_ARG_SIZ,
                   "%s: wrong shape: rows have %" PetscInt_FMT " data columns but -shape gives %" PetscInt_FMT
                   " elements",
                   path, D, a->D);
      } else {
        a->ndim = 1, a->shape[0] = D, a->D = D;
      }
      PetscCheck(D >= 1, comm, PETSC_ERR_ARG_SIZ, "%s: no data columns", path);
      PetscCall(PetscMalloc1(alloc_n * (size_t)D, &a->x));
      if (label_column >= 0) PetscCall(PetscMalloc1(alloc_n, &a->labels));
    }
    if (a->N == (PetscInt)alloc_n) {
      alloc_n *= 2;
      PetscCall(PetscRealloc(sizeof(float) * alloc_n * (size_t)D, &a->x));
      if (a->labels) PetscCall(PetscRealloc(sizeof(PetscInt) * alloc_n, &a->labels));
    }
    for (p = s;; col++) {
      char       *q;
      double      v;
      const char *why;
      PetscCheck(col < ncols, comm, PETSC_ERR_ARG_SIZ,
                 "%s: line %" PetscInt_FMT " has more than %" PetscInt_FMT " columns", path, line, ncols);
      v = strtod(p, &q);
      while (*q == ' ' || *q == '\t') q++;
      PetscCheck(q != p && (*q == ',' || *q == 0), comm, PETSC_ERR_ARG_WRONG,
                 "%s: line %" PetscInt_FMT ", column %" PetscInt_FMT ": not a number", path, line, col + 1);
      why = BOCountProblem(v, BO_MAX_EXACT_COUNT, NULL);
      PetscCheck(!why, comm, PETSC_ERR_ARG_OUTOFRANGE,
                 "%s: line %" PetscInt_FMT ", column %" PetscInt_FMT ": %s %s (%s)", path, line, col + 1,
                 col == label_column ? "label" : "count", why, bo_fmt_g(v));
      if (col == label_column) a->labels[a->N] = (PetscInt)v;
      else if (col != drop_column) a->x[(size_t)a->N * (size_t)D + (size_t)d++] = (float)v;
      if (*q == 0) break;
      p = q + 1;
    }
    PetscCheck(col + 1 == ncols, comm, PETSC_ERR_ARG_SIZ,
               "%s: line %" PetscInt_FMT " has %" PetscInt_FMT " columns, expected %" PetscInt_FMT, path, line, col + 1,
               ncols);
    a->N++;
    s = end;
  }
  PetscCall(PetscFree(text));
  PetscCheck(a->N > 0, comm, PETSC_ERR_ARG_SIZ, "%s: no data rows", path);
  PetscFunctionReturn(0);
}

static uint32_t big_endian32(const unsigned char *b)
{
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int host_is_big_endian(void)
{
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 0;
}

/* Decode one value of raw type t at p (byte order big or little). */
static double decode_value(const unsigned char *p, BORawType t, int big)
{
  unsigned char b[8];
  size_t        n    = t == BO_RAW_U8 ? 1 : (t == BO_RAW_U16 || t == BO_RAW_I16) ? 2 : t == BO_RAW_F64 ? 8 : 4;
  int           swap = big != host_is_big_endian();
  for (size_t i = 0; i < n; i++) b[i] = swap ? p[n - 1 - i] : p[i];
  switch (t) {
  case BO_RAW_U8: return b[0];
  case BO_RAW_U16: {
    uint16_t v;
    memcpy(&v, b, 2);
    return v;
  }
  case BO_RAW_I16: {
    int16_t v;
    memcpy(&v, b, 2);
    return v;
  }
  case BO_RAW_I32: {
    int32_t v;
    memcpy(&v, b, 4);
    return v;
  }
  case BO_RAW_U32: {
    uint32_t v;
    memcpy(&v, b, 4);
    return v;
  }
  case BO_RAW_F32: {
    float v;
    memcpy(&v, b, 4);
    return v;
  }
  default: {
    double v;
    memcpy(&v, b, 8);
    return v;
  }
  }
}

static size_t raw_size(BORawType t)
{
  return t == BO_RAW_U8 ? 1 : (t == BO_RAW_U16 || t == BO_RAW_I16) ? 2 : t == BO_RAW_F64 ? 8 : 4;
}

/* Decode and validate N*D values into a->x; what names the element. */
static PetscErrorCode decode_counts(MPI_Comm comm, const char *path, const unsigned char *p, BORawType t, int big,
                                    BOArray *a)
{
  size_t n = (size_t)a->N * (size_t)a->D, es = raw_size(t);

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(n, &a->x));
  for (size_t i = 0; i < n; i++) {
    double      v   = decode_value(p + i * es, t, big);
    const char *why = BOCountProblem(v, BO_MAX_EXACT_COUNT, NULL);
    PetscCheck(!why, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: sample %zu, element %zu: count %s (%s)", path,
               i / (size_t)a->D, i % (size_t)a->D, why, bo_fmt_g(v));
    a->x[i] = (float)v;
  }
  PetscFunctionReturn(0);
}

/* idx element type code -> raw type */
static PetscErrorCode idx_type(MPI_Comm comm, const char *path, int code, BORawType *t)
{
  PetscFunctionBegin;
  switch (code) {
  case 0x08: *t = BO_RAW_U8; break;
  case 0x0B: *t = BO_RAW_I16; break;
  case 0x0C: *t = BO_RAW_I32; break;
  case 0x0D: *t = BO_RAW_F32; break;
  case 0x0E: *t = BO_RAW_F64; break;
  default: SETERRQ(comm, PETSC_ERR_FILE_UNEXPECTED, "%s: unsupported idx element type 0x%02x", path, code);
  }
  PetscFunctionReturn(0);
}

/* Parse an idx header: type, rank and dims; returns the data offset. */
static PetscErrorCode idx_header(MPI_Comm comm, const char *path, const unsigned char *b, size_t len, BORawType *t,
                                 int *nd, uint32_t dims[4], size_t *off)
{
  size_t total;

  PetscFunctionBegin;
  PetscCheck(len >= 4 && b[0] == 0 && b[1] == 0, comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: not an idx file (bad magic number)", path);
  PetscCall(idx_type(comm, path, b[2], t));
  *nd = b[3];
  PetscCheck(*nd >= 1 && *nd <= 4, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: idx rank %d not supported (1 to 4)", path,
             *nd);
  PetscCheck(len >= 4 + 4 * (size_t)*nd, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: truncated idx header", path);
  total = raw_size(*t);
  for (int i = 0; i < *nd; i++) dims[i] = big_endian32(b + 4 + 4 * i), total *= dims[i];
  *off = 4 + 4 * (size_t)*nd;
  PetscCheck(len == *off + total, comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s: idx file has %zu data bytes, the header announces %zu", path, len - *off, total);
  PetscFunctionReturn(0);
}

PetscErrorCode BOReadIDX(MPI_Comm comm, const char *path, const char *labels_path, BOArray *a)
{
  unsigned char *b;
  size_t         len, off;
  BORawType      t;
  int            nd;
  uint32_t       dims[4];
  PetscInt       shape[3];

  PetscFunctionBegin;
  PetscCall(PetscMemzero(a, sizeof(*a)));
  PetscCall(bo_read_whole_file(comm, path, &b, &len));
  PetscCall(idx_header(comm, path, b, len, &t, &nd, dims, &off));
  PetscCheck(nd >= 2, comm, PETSC_ERR_FILE_UNEXPECTED, "%s: an idx%d file holds labels, not samples (use -labels)",
             path, nd);
  a->N = dims[0];
  PetscCheck(a->N > 0, comm, PETSC_ERR_ARG_SIZ, "%s: no samples", path);
  for (int i = 1; i < nd; i++) shape[i - 1] = dims[i];
  PetscCall(array_set_shape(comm, path, a, nd - 1, shape));
  PetscCall(decode_counts(comm, path, b + off, t, 1, a));
  PetscCall(PetscFree(b));
  if (labels_path && labels_path[0]) {
    PetscCall(bo_read_whole_file(comm, labels_path, &b, &len));
    PetscCall(idx_header(comm, labels_path, b, len, &t, &nd, dims, &off));
    PetscCheck(nd == 1 && (PetscInt)dims[0] == a->N, comm, PETSC_ERR_ARG_SIZ,
               "%s: labels must be an idx1 file of %" PetscInt_FMT " entries", labels_path, a->N);
    PetscCall(PetscMalloc1(a->N, &a->labels));
    for (PetscInt i = 0; i < a->N; i++) {
      double      v   = decode_value(b + off + (size_t)i * raw_size(t), t, 1);
      const char *why = BOCountProblem(v, BO_MAX_EXACT_COUNT, NULL);
      PetscCheck(!why, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s: label %" PetscInt_FMT " %s (%s)", labels_path, i, why,
                 bo_fmt_g(v));
      a->labels[i] = (PetscInt)v;
    }
    PetscCall(PetscFree(b));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOReadRaw(MPI_Comm comm, const char *path, BORawType type, PetscBool big_endian, long long offset,
                         PetscInt ndim, const PetscInt shape[], BOArray *a)
{
  unsigned char *b;
  size_t         len, bytes;

  PetscFunctionBegin;
  PetscCall(PetscMemzero(a, sizeof(*a)));
  PetscCheck(ndim >= 1, comm, PETSC_ERR_ARG_WRONG, "%s: raw input needs -shape", path);
  PetscCall(array_set_shape(comm, path, a, ndim, shape));
  PetscCall(bo_read_whole_file(comm, path, &b, &len));
  PetscCheck(offset >= 0 && (size_t)offset <= len, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "%s: offset %lld beyond the file's %zu bytes", path, offset, len);
  bytes = (size_t)a->D * raw_size(type);
  PetscCheck(len > (size_t)offset && (len - (size_t)offset) % bytes == 0, comm, PETSC_ERR_ARG_SIZ,
             "%s: wrong shape: %zu data bytes are not a whole number of samples of %zu bytes", path,
             len - (size_t)offset, bytes);
  a->N = (PetscInt)((len - (size_t)offset) / bytes);
  PetscCall(decode_counts(comm, path, b + offset, type, big_endian, a));
  PetscCall(PetscFree(b));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------ params CSV */

/* Split line s in place at commas into at most max tokens, trimmed of
 * blanks; returns the number of tokens (max + 1 if there are more). */
static PetscInt split_line(char *s, char **tok, PetscInt max)
{
  PetscInt n = 0;
  for (char *p = s;; p++) {
    char *comma = strchr(p, ','), *e;
    if (comma) *comma = 0;
    while (*p == ' ' || *p == '\t') p++;
    for (e = p + strlen(p); e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); e--) e[-1] = 0;
    if (n < max) tok[n] = p;
    n++;
    if (!comma || n > max) return n;
    p = comma;
  }
}

static PetscBool is_number(const char *t)
{
  char *end;
  if (!t[0]) return PETSC_FALSE;
  (void)strtod(t, &end);
  return *end == 0 ? PETSC_TRUE : PETSC_FALSE;
}

/* The header's tokens as comma-separated names. */
static PetscErrorCode header_names(MPI_Comm comm, const char *path, PetscInt line, char **tok, PetscInt n, char *names,
                                   size_t len)
{
  size_t at = 0;

  PetscFunctionBegin;
  names[0] = 0;
  for (PetscInt j = 0; j < n; j++) {
    int k;
    PetscCheck(tok[j][0], comm, PETSC_ERR_ARG_WRONG,
               "%s: line %" PetscInt_FMT " (the header): name %" PetscInt_FMT " is empty", path, line, j + 1);
    k = snprintf(names + at, len - at, "%s%s", j ? "," : "", tok[j]);
    PetscCheck(k > 0 && at + (size_t)k < len, comm, PETSC_ERR_ARG_SIZ, "%s: the header's names are too long", path);
    at += (size_t)k;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode BOReadParamsCSV(MPI_Comm comm, const char *path, BOArray *a)
{
  enum { MAXP = 1024 };
  unsigned char *text;
  size_t         len;
  char          *s, **tok;
  PetscInt       line = 0, P = -1, rows = 0;
  PetscBool      header = PETSC_FALSE;

  PetscFunctionBegin;
  PetscCall(bo_read_whole_file(comm, path, &text, &len));
  PetscCall(PetscRealloc(len + 1, &text));
  text[len] = 0;
  PetscCall(PetscMalloc1(MAXP + 1, &tok));
  PetscCall(PetscFree(a->params));
  a->P = 0;
  for (s = (char *)text; *s;) {
    char    *eol = strchr(s, '\n'), *next = eol ? eol + 1 : s + strlen(s);
    PetscInt n;
    if (eol) *eol = 0;
    line++;
    if (strspn(s, " \t\r") == strlen(s)) { /* blank lines are skipped */
      s = next;
      continue;
    }
    n = split_line(s, tok, MAXP);
    PetscCheck(n <= MAXP, comm, PETSC_ERR_ARG_SIZ, "%s: line %" PetscInt_FMT " has more than %d values", path, line,
               (int)MAXP);
    if (P < 0) { /* the first row: names, or the first values */
      P = n;
      for (PetscInt j = 0; j < n; j++) header = (PetscBool)(header || !is_number(tok[j]));
      if (header) PetscCall(header_names(comm, path, line, tok, n, a->param_names, sizeof(a->param_names)));
      else PetscCall(BOParamNamesDefault(P, a->param_names, sizeof(a->param_names)));
      PetscCall(PetscMalloc1((size_t)a->N * P + 1, &a->params));
      a->P = P;
      if (header) {
        s = next;
        continue;
      }
    }
    PetscCheck(n == P, comm, PETSC_ERR_ARG_SIZ,
               "%s: line %" PetscInt_FMT " has %" PetscInt_FMT " values, expected %" PetscInt_FMT " (ragged rows)",
               path, line, n, P);
    PetscCheck(rows < a->N, comm, PETSC_ERR_ARG_SIZ,
               "%s: more than %" PetscInt_FMT " rows of params, but the input has %" PetscInt_FMT " samples", path,
               a->N, a->N);
    for (PetscInt j = 0; j < n; j++) {
      double v = strtod(tok[j], NULL);
      PetscCheck(is_number(tok[j]), comm, PETSC_ERR_ARG_WRONG,
                 "%s: line %" PetscInt_FMT ", column %" PetscInt_FMT ": not a number (%s)", path, line, j + 1, tok[j]);
      PetscCheck(isfinite(v), comm, PETSC_ERR_ARG_OUTOFRANGE,
                 "%s: line %" PetscInt_FMT ", column %" PetscInt_FMT ": %s (%s)", path, line, j + 1,
                 isnan(v) ? "NaN" : "infinite", tok[j]);
      a->params[(size_t)rows * P + j] = v;
    }
    rows++;
    s = next;
  }
  PetscCall(PetscFree(tok));
  PetscCall(PetscFree(text));
  PetscCheck(rows == a->N, comm, PETSC_ERR_ARG_SIZ,
             "%s: %" PetscInt_FMT " rows of params, but the input has %" PetscInt_FMT " samples", path, rows, a->N);
  PetscFunctionReturn(0);
}

/* The P x P patch at (y0, x0) of a field f of row length Nx and C components. */
static void cut_patch(const float *f, PetscInt Nx, PetscInt C, PetscInt y0, PetscInt x0, PetscInt P, float *out)
{
  for (PetscInt j = 0; j < P; j++)
    for (PetscInt i = 0; i < P; i++)
      for (PetscInt c = 0; c < C; c++) out[((size_t)j * P + i) * C + c] = f[((size_t)(y0 + j) * Nx + x0 + i) * C + c];
}

PetscErrorCode BOArrayExtractPatches(BOArray *a, PetscInt P, PetscInt S)
{
  PetscInt  Ny = a->shape[0], Nx = a->shape[1], C = a->ndim == 3 ? a->shape[2] : 1, py, px, n = 0;
  float    *x, *in = NULL;
  PetscInt *lab = NULL;
  double   *par = NULL;

  PetscFunctionBegin;
  PetscCheck(a->ndim >= 2, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "patches need fields (-shape Ny,Nx[,C])");
  PetscCheck(P >= 1 && S >= 1 && P <= Ny && P <= Nx, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "patch size %" PetscInt_FMT " and stride %" PetscInt_FMT " must be positive and fit the %" PetscInt_FMT
             " x %" PetscInt_FMT " field",
             P, S, Ny, Nx);
  py = (Ny - P) / S + 1, px = (Nx - P) / S + 1;
  PetscCall(PetscMalloc1((size_t)a->N * py * px * P * P * C, &x));
  if (a->labels) PetscCall(PetscMalloc1((size_t)a->N * py * px, &lab));
  if (a->params) PetscCall(PetscMalloc1((size_t)a->N * py * px * a->P, &par));
  if (a->inputs) PetscCall(PetscMalloc1((size_t)a->N * py * px * P * P * a->Ci, &in));
  for (PetscInt s = 0; s < a->N; s++)
    for (PetscInt by = 0; by < py; by++)
      for (PetscInt bx = 0; bx < px; bx++, n++) {
        cut_patch(a->x + (size_t)s * Ny * Nx * C, Nx, C, by * S, bx * S, P, x + (size_t)n * P * P * C);
        if (in)
          cut_patch(a->inputs + (size_t)s * Ny * Nx * a->Ci, Nx, a->Ci, by * S, bx * S, P,
                    in + (size_t)n * P * P * a->Ci);
        if (lab) lab[n] = a->labels[s];
        if (par) PetscCall(PetscArraycpy(par + (size_t)n * a->P, a->params + (size_t)s * a->P, a->P));
      }
  PetscCall(PetscFree(a->x));
  PetscCall(PetscFree(a->labels));
  PetscCall(PetscFree(a->params));
  PetscCall(PetscFree(a->inputs));
  a->x = x, a->labels = lab, a->params = par, a->inputs = in, a->N = n;
  a->shape[0] = a->shape[1] = P, a->D = P * P * C;
  PetscFunctionReturn(0);
}

/* Rows perm[0..N) of src (N rows of n elements of size esize) into src. */
static PetscErrorCode permute_rows(PetscInt N, const PetscInt *perm, size_t n, size_t esize, void *src)
{
  char *tmp;

  PetscFunctionBegin;
  if (!src) PetscFunctionReturn(0);
  PetscCall(PetscMalloc(N * n * esize + 1, &tmp));
  for (PetscInt i = 0; i < N; i++) memcpy(tmp + i * n * esize, (char *)src + perm[i] * n * esize, n * esize);
  memcpy(src, tmp, N * n * esize);
  PetscCall(PetscFree(tmp));
  PetscFunctionReturn(0);
}

PetscErrorCode BOArrayPermute(BOArray *a, uint64_t seed)
{
  PetscInt    *perm;
  const size_t Di = a->ndim >= 2 ? (size_t)a->shape[0] * a->shape[1] * a->Ci : 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(a->N, &perm));
  PetscCall(BOShufflePermutation(seed, 0, a->N, 0, 0, perm, NULL));
  PetscCall(permute_rows(a->N, perm, (size_t)a->D, sizeof(float), a->x));
  PetscCall(permute_rows(a->N, perm, 1, sizeof(PetscInt), a->labels));
  PetscCall(permute_rows(a->N, perm, (size_t)a->P, sizeof(double), a->params));
  PetscCall(permute_rows(a->N, perm, Di, sizeof(float), a->inputs));
  PetscCall(PetscFree(perm));
  PetscFunctionReturn(0);
}

PetscErrorCode BOArrayDestroy(BOArray *a)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(a->x));
  PetscCall(PetscFree(a->labels));
  PetscCall(PetscFree(a->params));
  PetscCall(PetscFree(a->inputs));
  PetscFunctionReturn(0);
}
