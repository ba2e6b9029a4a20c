/* The XDMF sidecar of a field file, so that ParaView and VisIt open it: a
 * temporal collection with one cell-centred 2DCoRectMesh grid per member;
 * each attribute is a HyperSlab picking member k (and component c) out of
 * the 3-D or 4-D dataset. */
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
  fprintf(f, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"2.0\">\n <Domain>\n");
  fprintf(f, "  <Grid Name=\"ensemble\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
  for (PetscInt k = 0; k < N; k++) {
    fprintf(f, "   <Grid Name=\"member %" PetscInt_FMT "\" GridType=\"Uniform\">\n", k);
    fprintf(f, "    <Time Value=\"%" PetscInt_FMT "\"/>\n", k);
    /* node counts, slowest axis first */
    fprintf(f, "    <Topology TopologyType=\"2DCoRectMesh\" Dimensions=\"%" PetscInt_FMT " %" PetscInt_FMT "\"/>\n",
            Ny + 1, Nx + 1);
    fprintf(f, "    <Geometry GeometryType=\"ORIGIN_DXDY\">\n");
    fprintf(f, "     <DataItem Format=\"XML\" NumberType=\"Float\" Dimensions=\"2\">%.17g %.17g</DataItem>\n",
            origin[1], origin[0]);
    fprintf(f, "     <DataItem Format=\"XML\" NumberType=\"Float\" Dimensions=\"2\">%.17g %.17g</DataItem>\n",
            spacing[1], spacing[0]);
    fprintf(f, "    </Geometry>\n");
    for (PetscInt c = 0; c < C; c++) {
      char aname[64];
      if (C > 1) snprintf(aname, sizeof(aname), "%s_%" PetscInt_FMT, name, c);
      else snprintf(aname, sizeof(aname), "%s", name);
      fprintf(f, "    <Attribute Name=\"%s\" AttributeType=\"Scalar\" Center=\"Cell\">\n", aname);
      fprintf(f, "     <DataItem ItemType=\"HyperSlab\" Dimensions=\"%" PetscInt_FMT " %" PetscInt_FMT "\">\n", Ny, Nx);
      if (nd == 4) {
        fprintf(f,
                "      <DataItem Dimensions=\"3 4\" Format=\"XML\">%" PetscInt_FMT " 0 0 %" PetscInt_FMT
                " 1 1 1 1 1 %" PetscInt_FMT " %" PetscInt_FMT " 1</DataItem>\n",
                k, c, Ny, Nx);
        fprintf(f,
                "      <DataItem Format=\"HDF\" NumberType=\"%s\" Precision=\"%d\" Dimensions=\"%" PetscInt_FMT
                " %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT "\">%s:/%s</DataItem>\n",
                ntype, prec, N, Ny, Nx, C, base, name[0] == '/' ? name + 1 : name);
      } else {
        fprintf(f,
                "      <DataItem Dimensions=\"3 3\" Format=\"XML\">%" PetscInt_FMT " 0 0 1 1 1 1 %" PetscInt_FMT
                " %" PetscInt_FMT "</DataItem>\n",
                k, Ny, Nx);
        fprintf(f,
                "      <DataItem Format=\"HDF\" NumberType=\"%s\" Precision=\"%d\" Dimensions=\"%" PetscInt_FMT
                " %" PetscInt_FMT " %" PetscInt_FMT "\">%s:/%s</DataItem>\n",
                ntype, prec, N, Ny, Nx, base, name[0] == '/' ? name + 1 : name);
      }
      fprintf(f, "     </DataItem>\n    </Attribute>\n");
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
