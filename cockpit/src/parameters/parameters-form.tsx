// Every parameter of the policy (src/colo/params.ts PARAMETERS: unit, range, default), checked
// as it is typed with the core's own rules. Apply sends all changes in one SetParameters; the
// agent is the judge, and its refusal is shown as it wrote it. Editing needs administrative access.
import {
  ActionGroup,
  Alert,
  Button,
  Form,
  FormGroup,
  FormHelperText,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  HelperText,
  HelperTextItem,
  InputGroup,
  InputGroupItem,
  InputGroupText,
  Switch,
  TextInput,
} from "@patternfly/react-core";
import { type FormEvent, useState } from "react";
import { allowedText, PARAMETERS, type ParamSpec } from "../../../src/colo/params.js";
import { useActions } from "../context.js";
import { _, format } from "../i18n.js";
import type { AgentInfo } from "../model.js";
import { changes, currentParams, type Edits, shown, validate } from "./draft.js";

interface FieldProps {
  spec: ParamSpec;
  value: string | boolean;
  error: string | undefined;
  editable: boolean;
  onChange: (value: string | boolean) => void;
}

function Control({ spec, value, error, editable, onChange }: FieldProps) {
  const id = `param-${spec.name}`;
  switch (spec.kind) {
    case "bool":
      return (
        <Switch
          id={id}
          isChecked={value === true}
          isDisabled={!editable}
          onChange={(_event, checked) => onChange(checked)}
          aria-label={spec.name}
        />
      );
    case "enum":
      return (
        <FormSelect
          id={id}
          value={String(value)}
          isDisabled={!editable}
          onChange={(_event, v) => onChange(v)}
          aria-label={spec.name}
        >
          {spec.values.map((v) => (
            <FormSelectOption key={v} value={v} label={v} />
          ))}
        </FormSelect>
      );
    default:
      return (
        <InputGroup>
          <InputGroupItem isFill>
            <TextInput
              id={id}
              value={String(value)}
              inputMode={spec.kind === "int" ? "numeric" : "decimal"}
              validated={error ? "error" : "default"}
              {...(editable ? {} : { readOnlyVariant: "default" as const })}
              onChange={(_event, v) => onChange(v)}
            />
          </InputGroupItem>
          {spec.unit && <InputGroupText>{spec.unit}</InputGroupText>}
        </InputGroup>
      );
  }
}

function Field(props: FieldProps) {
  const { spec, error } = props;
  const range = format(_("Allowed: $0; default $1."), allowedText(spec), String(spec.default));
  return (
    <FormGroup label={spec.name} fieldId={`param-${spec.name}`}>
      <Control {...props} />
      <FormHelperText>
        <HelperText>
          {error ? (
            <HelperTextItem variant="error" id={`param-${spec.name}-error`}>
              {error}
            </HelperTextItem>
          ) : (
            <HelperTextItem>{range}</HelperTextItem>
          )}
          <HelperTextItem className="colo-subtle">{spec.summary}</HelperTextItem>
        </HelperText>
      </FormHelperText>
    </FormGroup>
  );
}

type Outcome = { ok: true } | { ok: false; message: string };

export interface ParametersFormProps {
  busName: string;
  info: AgentInfo;
  /** Administrative access; null while Cockpit does not know yet. */
  admin: boolean | null;
}

export function ParametersForm({ busName, info, admin }: ParametersFormProps) {
  const actions = useActions();
  const [edits, setEdits] = useState<Edits>({});
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  const params = currentParams(info.params);
  const pending = changes(edits, params);
  const errors = validate(edits, params);
  const editable = admin === true;

  const edit = (name: string, value: string | boolean) => {
    setEdits({ ...edits, [name]: value });
    setOutcome(undefined);
  };
  const apply = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setOutcome(undefined);
    try {
      await actions.setParameters(busName, pending);
      setEdits({});
      setOutcome({ ok: true });
    } catch (e) {
      setOutcome({ ok: false, message: e instanceof Error ? e.message : String(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <Form onSubmit={apply} id="parameters-form">
      {admin === false && (
        <Alert
          variant="info"
          isInline
          title={_("Read only: changing parameters needs administrative access.")}
        />
      )}
      {/* Two columns where there is room: nine parameters fit a laptop screen. */}
      <Grid hasGutter xl={6}>
        {PARAMETERS.map((spec) => (
          <GridItem key={spec.name}>
            <Field
              spec={spec}
              value={edits[spec.name] ?? shown(spec, params)}
              error={errors[spec.name]}
              editable={editable}
              onChange={(value) => edit(spec.name, value)}
            />
          </GridItem>
        ))}
      </Grid>
      {outcome?.ok === false && (
        <Alert
          variant="danger"
          isInline
          title={_("The agent refused the change")}
          id="parameters-refused"
        >
          {outcome.message.split("\n").map((line) => (
            <div key={line}>{line}</div>
          ))}
        </Alert>
      )}
      {outcome?.ok === true && (
        <Alert
          variant="success"
          isInline
          title={_("The agent applies the new parameters at its next decision.")}
          id="parameters-applied"
        />
      )}
      {editable && (
        <ActionGroup>
          {/* Not disabled by the errors shown: the agent judges, and refuses in its own words. */}
          <Button
            type="submit"
            variant="primary"
            isDisabled={busy || Object.keys(pending).length === 0}
            isLoading={busy}
            id="parameters-apply"
          >
            {_("Apply")}
          </Button>
          <Button
            variant="link"
            isDisabled={busy || Object.keys(edits).length === 0}
            onClick={() => {
              setEdits({});
              setOutcome(undefined);
            }}
          >
            {_("Discard changes")}
          </Button>
        </ActionGroup>
      )}
    </Form>
  );
}
