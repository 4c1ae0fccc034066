// Failover, behind a confirmation that says what it does to this pair: it cannot be undone
// from here (protecting the domain again means a new secondary).
import {
  Alert,
  Button,
  Content,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
} from "@patternfly/react-core";
import { useState } from "react";
import { useActions } from "../context.js";
import { _, format } from "../i18n.js";
import type { AgentInfo } from "../model.js";

function consequences(info: AgentInfo): string[] {
  const peer = format(_("$0 on $1"), info.peerDomain, info.peerUri);
  if (info.role === "secondary")
    return [
      format(
        _("$0 leaves COLO and takes over: it runs alone from its last checkpoint."),
        info.domain,
      ),
      format(
        _("Do this only when the primary, $0, is gone: if it still runs, both sides run at once."),
        peer,
      ),
    ];
  return [
    format(_("$0 leaves COLO and runs alone on this host; it does not stop."), info.domain),
    format(_("Its secondary, $0, is no longer a replica and can be removed."), peer),
    format(
      _(
        "The domain stays unprotected until a new secondary is made and colo-hybrid protect $0 runs.",
      ),
      info.domain,
    ),
  ];
}

export function FailoverButton({ busName, info }: { busName: string; info: AgentInfo }) {
  const actions = useActions();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  const close = () => {
    setOpen(false);
    setError("");
  };
  const confirm = async () => {
    setBusy(true);
    setError("");
    try {
      await actions.failover(busName);
      close();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)} id="failover">
        {_("Fail over")}
      </Button>
      <Modal
        isOpen={open}
        onClose={close}
        variant="small"
        aria-labelledby="failover-title"
        id="failover-dialog"
      >
        <ModalHeader
          title={format(_("Fail over $0?"), info.domain)}
          titleIconVariant="warning"
          labelId="failover-title"
        />
        <ModalBody>
          {consequences(info).map((line) => (
            <Content component="p" key={line}>
              {line}
            </Content>
          ))}
          {error && (
            <Alert variant="danger" isInline title={_("Failover failed")}>
              {error}
            </Alert>
          )}
        </ModalBody>
        <ModalFooter>
          <Button variant="danger" onClick={confirm} isLoading={busy} isDisabled={busy}>
            {_("Fail over")}
          </Button>
          <Button variant="link" onClick={close} isDisabled={busy}>
            {_("Cancel")}
          </Button>
        </ModalFooter>
      </Modal>
    </>
  );
}
