/* The XDMF sidecar of a field file, so that ParaView and VisIt open it: a
 * temporal collection with one cell-centred 2DCoRectMesh grid per member
 * (3DCoRectMesh for 3-D fields, a volume); each attribute is a HyperSlab
 * picking member k (and component c) out of the 3-D to 5-D dataset. The mesh and the dataset are written once and
 * referred to by every member's grid. */
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include "bo_io.h"
#include "bo_sys.h"

void BORemoveStaleXDMF(const char *h5path)
{
  char        xmf[PETSC_MAX_PATH_LEN], line[PETSC_MAX_PATH_LEN + 256], ref[PETSC_MAX_PATH_LEN + 4];
  const char *base = strrchr(h5path, '/') ? strrchr(h5path, '/') + 1 : h5path;
  FILE       *f;
  int         ours = 0;

  BOXDMFPath(h5path, xmf, sizeof(xmf));
  if (!(f = fopen(xmf, "r"))) return;
  snprintf(ref, sizeof(ref), ">%s:/", base);
  while (!ours && fgets(line, sizeof(line), f)) ours = strstr(line, ref) != NULL;
  fclose(f);
  if (ours) unlink(xmf);
}

void BOXDMFPath(const char *h5path, char *xmf, size_t len)
{
  const char *slash = strrchr(h5path, '/'), *dot = strrchr(h5path, '.');
  if (dot && (!slash || dot > slash)) snprintf(xmf, len, "%.*s.xmf", (int)(dot - h5path), h5path);
  else snprintf(xmf, len, "%s.xmf", h5path);
}

PetscErrorCode BOCheckEnsembleOutputs(MPI_Comm comm, int ndata, const BOFileArg *data, int nother,
                                      const BOFileArg *other, int nin, const BOFileArg *in)
{
  const int  nout = 2 * ndata + nother;
  BOFileArg *out;
  char(*xmf)[PETSC_MAX_PATH_LEN], (*opt)[64];

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(nout, &out, ndata, &xmf, ndata, &opt));
  for (int d = 0; d < ndata; d++) {
    BOXDMFPath(data[d].path, xmf[d], sizeof(xmf[d]));
    snprintf(opt[d], sizeof(opt[d]), "%s's XDMF sidecar", data[d].opt);
    out[d]                  = data[d];
    out[ndata + nother + d] = (BOFileArg){opt[d], data[d].path[0] ? xmf[d] : ""};
  }
  for (int e = 0; e < nother; e++) out[ndata + e] = other[e];
  PetscCall(BOCheckOutputs(comm, nout, out, nin, in));
  PetscCall(PetscFree3(out, xmf, opt));
  PetscFunctionReturn(0);
}

PetscErrorCode BOWriteXDMF(const char *h5path, const char *name, PetscInt N, PetscInt Nz, PetscInt Ny, PetscInt Nx,
                           PetscInt C, BODType type, const double origin[], const double spacing[])
{
  char        xmf[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN + 16];
  const char *base  = strrchr(h5path, '/') ? strrchr(h5path, '/') + 1 : h5path;
  const char *ntype = (type == BO_DTYPE_F32 || type == BO_DTYPE_F64) ? "Float" : "UInt";
  int         prec  = type == BO_DTYPE_U8 ? 1 : type == BO_DTYPE_U16 ? 2 : type == BO_DTYPE_F64 ? 8 : 4;
  /* the spatial axes, slowest first: (Ny, Nx), or (Nz, Ny, Nx) for a 3-D field */
  const int      ns    = Nz > 0 ? 3 : 2;
  const PetscInt sp[3] = {Nz > 0 ? Nz : Ny, Nz > 0 ? Ny : Nx, Nx};
  int            nd    = 1 + ns + (C > 1); /* axes of the dataset */
  FILE          *f;

  PetscFunctionBegin;
  BOXDMFPath(h5path, xmf, sizeof(xmf));
  BOTempPath(xmf, tmp, sizeof(tmp));
  f = fopen(tmp, "w");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s is complete, but its XDMF sidecar %s cannot be created: %s",
             h5path, tmp, strerror(errno));
  /* The mesh and the dataset once, at the domain's level; each member's
   * grid refers to them (XDMF's Reference, an XPath) and adds only its
   * hyperslab: about 0.3 KB a member instead of 0.9. */
  fprintf(f, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"2.0\">\n <Domain>\n");
  /* node counts, slowest axis first: the cells are the dataset's */
  fprintf(f, "  <Topology Name=\"mesh\" TopologyType=\"%dDCoRectMesh\" Dimensions=\"", ns);
  for (int i = 0; i < ns; i++) fprintf(f, "%s%" PetscInt_FMT, i ? " " : "", sp[i] + 1);
  fprintf(f, "\"/>\n");
  /* origin and spacing slowest axis first too: (z,) y, x */
  fprintf(f, "  <Geometry Name=\"origin_dxdy\" GeometryType=\"%s\">\n", ns == 3 ? "ORIGIN_DXDYDZ" : "ORIGIN_DXDY");
  for (int g = 0; g < 2; g++) {
    const double *v = g ? spacing : origin;
    fprintf(f, "   <DataItem Format=\"XML\" NumberType=\"Float\" Dimensions=\"%d\">", ns);
    for (int i = ns - 1; i >= 0; i--) fprintf(f, "%.17g%s", v[i], i ? " " : "");
    fprintf(f, "</DataItem>\n");
  }
  fprintf(f, "  </Geometry>\n");
  fprintf(f, "  <DataItem Name=\"data\" Format=\"HDF\" NumberType=\"%s\" Precision=\"%d\" Dimensions=\"%" PetscInt_FMT,
          ntype, prec, N);
  for (int i = 0; i < ns; i++) fprintf(f, " %" PetscInt_FMT, sp[i]);
  if (C > 1) fprintf(f, " %" PetscInt_FMT, C);
  fprintf(f, "\">%s:/%s</DataItem>\n", base, name[0] == '/' ? name + 1 : name);
  fprintf(f, "  <Grid Name=\"ensemble\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
  for (PetscInt k = 0; k < N; k++) {
    fprintf(f,
            "   <Grid Name=\"member %" PetscInt_FMT "\"><Time Value=\"%" PetscInt_FMT "\"/>"
            "<Topology Reference=\"/Xdmf/Domain/Topology[1]\"/><Geometry Reference=\"/Xdmf/Domain/Geometry[1]\"/>\n",
            k, k);
    for (PetscInt c = 0; c < C; c++) {
      char aname[64];
      if (C > 1) snprintf(aname, sizeof(aname), "%s_%" PetscInt_FMT, name, c);
      else snprintf(aname, sizeof(aname), "%s", name);
      fprintf(f, "    <Attribute Name=\"%s\" Center=\"Cell\"><DataItem ItemType=\"HyperSlab\" Dimensions=\"", aname);
      for (int i = 0; i < ns; i++) fprintf(f, "%s%" PetscInt_FMT, i ? " " : "", sp[i]);
      /* the hyperslab: start, stride and count per axis of the dataset */
      fprintf(f, "\"><DataItem Dimensions=\"3 %d\" Format=\"XML\">%" PetscInt_FMT, nd, k);
      for (int i = 0; i < ns; i++) fprintf(f, " 0");
      if (C > 1) fprintf(f, " %" PetscInt_FMT, c);
      for (int i = 0; i < nd; i++) fprintf(f, " 1");
      fprintf(f, " 1");
      for (int i = 0; i < ns; i++) fprintf(f, " %" PetscInt_FMT, sp[i]);
      if (C > 1) fprintf(f, " 1");
      fprintf(f, "</DataItem><DataItem Reference=\"/Xdmf/Domain/DataItem[1]\"/></DataItem></Attribute>\n");
    }
    fprintf(f, "   </Grid>\n");
  }
  fprintf(f, "  </Grid>\n </Domain>\n</Xdmf>\n");
  {
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 && !err) err = errno;
    if (err) unlink(tmp);
    PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE,
               "%s is complete, but its XDMF sidecar %s cannot be written: %s", h5path, tmp, strerror(err));
  }
  PetscCall(BOPublishFile(tmp, xmf));
  PetscFunctionReturn(0);
}
