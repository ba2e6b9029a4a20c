/* The XDMF sidecar of a field file, so that ParaView and VisIt open it: a
 * temporal collection with one cell-centred 2DCoRectMesh grid per member;
 * each attribute is a HyperSlab picking member k (and component c) out of
 * the 3-D or 4-D dataset. The mesh and the dataset are written once and
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

PetscErrorCode BOWriteXDMF(const char *h5path, const char *name, PetscInt N, PetscInt Ny, PetscInt Nx, PetscInt C,
                           BODType type, const double origin[2], const double spacing[2])
{
  char        xmf[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN + 16];
  const char *base  = strrchr(h5path, '/') ? strrchr(h5path, '/') + 1 : h5path;
  const char *ntype = (type == BO_DTYPE_F32 || type == BO_DTYPE_F64) ? "Float" : "UInt";
  int         prec  = type == BO_DTYPE_U8 ? 1 : type == BO_DTYPE_U16 ? 2 : type == BO_DTYPE_F64 ? 8 : 4;
  int         nd    = C > 1 ? 4 : 3;
  FILE       *f;

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
  /* node counts, slowest axis first */
  fprintf(f,
          "  <Topology Name=\"mesh\" TopologyType=\"2DCoRectMesh\" Dimensions=\"%" PetscInt_FMT " %" PetscInt_FMT
          "\"/>\n",
          Ny + 1, Nx + 1);
  fprintf(f, "  <Geometry Name=\"origin_dxdy\" GeometryType=\"ORIGIN_DXDY\">\n");
  fprintf(f, "   <DataItem Format=\"XML\" NumberType=\"Float\" Dimensions=\"2\">%.17g %.17g</DataItem>\n", origin[1],
          origin[0]);
  fprintf(f, "   <DataItem Format=\"XML\" NumberType=\"Float\" Dimensions=\"2\">%.17g %.17g</DataItem>\n", spacing[1],
          spacing[0]);
  fprintf(f, "  </Geometry>\n");
  fprintf(f,
          "  <DataItem Name=\"data\" Format=\"HDF\" NumberType=\"%s\" Precision=\"%d\" Dimensions=\"%" PetscInt_FMT
          " %" PetscInt_FMT " %" PetscInt_FMT,
          ntype, prec, N, Ny, Nx);
  if (nd == 4) fprintf(f, " %" PetscInt_FMT, C);
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
      /* the hyperslab: start, stride and count per axis of the dataset */
      fprintf(f,
              "    <Attribute Name=\"%s\" Center=\"Cell\"><DataItem ItemType=\"HyperSlab\" Dimensions=\"%" PetscInt_FMT
              " %" PetscInt_FMT "\">",
              aname, Ny, Nx);
      if (nd == 4)
        fprintf(f,
                "<DataItem Dimensions=\"3 4\" Format=\"XML\">%" PetscInt_FMT " 0 0 %" PetscInt_FMT
                " 1 1 1 1 1 %" PetscInt_FMT " %" PetscInt_FMT " 1</DataItem>",
                k, c, Ny, Nx);
      else
        fprintf(f,
                "<DataItem Dimensions=\"3 3\" Format=\"XML\">%" PetscInt_FMT " 0 0 1 1 1 1 %" PetscInt_FMT
                " %" PetscInt_FMT "</DataItem>",
                k, Ny, Nx);
      fprintf(f, "<DataItem Reference=\"/Xdmf/Domain/DataItem[1]\"/></DataItem></Attribute>\n");
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
