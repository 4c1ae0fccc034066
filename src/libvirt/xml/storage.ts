// The storage pool and volume XML colo-hybrid defines (libvirt's formatstorage): a directory
// pool for the secondary's images, and empty qcow2 volumes in it.

function text(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll("'", "&apos;");
}

/** A directory pool over `dir`: QEMU's user passes through to its images; nobody lists them. */
export function dirPoolXml(name: string, dir: string): string {
  return (
    `<pool type='dir'><name>${text(name)}</name><target><path>${text(dir)}</path>` +
    "<permissions><mode>0711</mode></permissions></target></pool>"
  );
}

/** An empty qcow2 (v3) volume of `bytes`, owned by uid:gid, mode 0600. */
export function qcow2VolumeXml(
  name: string,
  bytes: number,
  owner: { uid: number; gid: number },
): string {
  return (
    `<volume><name>${text(name)}</name><capacity unit='bytes'>${bytes}</capacity>` +
    "<target><format type='qcow2'/><compat>1.1</compat><permissions>" +
    `<owner>${owner.uid}</owner><group>${owner.gid}</group><mode>0600</mode>` +
    "</permissions></target></volume>"
  );
}
