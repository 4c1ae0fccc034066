// The real services the libvirt integration tests stand on, started by the tests themselves:
// the system bus, virtlogd and libvirtd (with a TLS listener and a test PKI), an sshd, and tiny
// TCG domains. See each module for the details.
export {
  cleanupTestDomains,
  defineTestDomain,
  TEST_DOMAIN_PREFIX,
  type TestDomain,
  type TestDomainOptions,
} from "./domains.js";
export {
  killLibvirtd,
  type Libvirtd,
  type LibvirtdOptions,
  restartLibvirtd,
  startLibvirtd,
  stopLibvirtd,
} from "./libvirtd.js";
export { makeTestPki, type TestPki } from "./pki.js";
export { type Sshd, type SshdOptions, startSshd } from "./sshd.js";
export { ensureSystemBus } from "./system-bus.js";
export { SYSTEM_URI, virsh } from "./virsh.js";
