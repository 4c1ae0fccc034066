// @vitest-environment jsdom
// The parameters form: every parameter of src/colo/params.ts with its unit, range and default;
// checked as typed by the core's own rules; applied in one call; the agent's refusal shown;
// read-only without administrative access.
import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { allowedText, PARAMETERS } from "../../src/colo/params.js";
import { agent, UUID } from "./fixtures.js";
import { renderPage } from "./render.js";

const input = (name: string) => document.getElementById(`param-${name}`) as HTMLInputElement;
const type = (name: string, value: string) => fireEvent.change(input(name), { target: { value } });

describe("parameters form", () => {
  it("lists every parameter with its unit, range, default and current value", () => {
    renderPage([agent()], { path: [UUID, "parameters"] });
    for (const spec of PARAMETERS) {
      screen.getByText(spec.name);
      expect(
        screen.getAllByText(`Allowed: ${allowedText(spec)}; default ${String(spec.default)}.`),
      ).not.toHaveLength(0);
      screen.getByText(spec.summary);
      expect(input(spec.name)).not.toBeNull();
    }
    expect(input("passive-limit").value).toBe("400");
    screen.getAllByText("ms");
    expect(input("variant").value).toBe("corrected");
    expect(input("enabled").checked).toBe(true);
  });

  it("checks as you type with the core's rules, including across fields", () => {
    renderPage([agent()], { path: [UUID, "parameters"] });
    type("passive-limit", "0");
    screen.getByText('passive-limit="0" is out of range: 1..600000 ms');
    type("passive-limit", "30000");
    screen.getByText(/colo-period=20000 must be more than passive-limit=30000/);
    type("passive-limit", "300");
    expect(screen.queryByText(/out of range|must be more/)).toBeNull();
  });

  it("applies every change in one call, as typed", async () => {
    const { actions } = renderPage([agent()], { path: [UUID, "parameters"] });
    const apply = screen.getByRole("button", { name: "Apply" });
    expect(apply).toHaveProperty("disabled", true);
    type("passive-limit", "300");
    type("weight", "0.5");
    fireEvent.click(input("enabled"));
    fireEvent.change(input("variant"), { target: { value: "seed" } });
    fireEvent.click(apply);
    await screen.findByText("The agent applies the new parameters at its next decision.");
    expect(actions.setParameters).toHaveBeenCalledTimes(1);
    expect(actions.setParameters).toHaveBeenCalledWith(agent().busName, {
      "passive-limit": "300",
      weight: "0.5",
      enabled: false,
      variant: "seed",
    });
  });

  it("shows the agent's own refusal and keeps what was typed", async () => {
    const { actions } = renderPage([agent()], { path: [UUID, "parameters"] });
    actions.setParameters.mockRejectedValueOnce(
      new Error(
        'passive-limit="0" is out of range: 1..600000 ms\nwarmup="x" is out of range: 1..1000 checkpoints',
      ),
    );
    type("passive-limit", "0");
    type("warmup", "x");
    fireEvent.click(screen.getByRole("button", { name: "Apply" }));
    const refused = await screen.findByText("The agent refused the change");
    const alert = refused.closest(".pf-v6-c-alert") as HTMLElement;
    expect(alert.textContent).toContain('warmup="x" is out of range: 1..1000 checkpoints');
    expect(input("passive-limit").value).toBe("0");
  });

  it("discards changes", () => {
    renderPage([agent()], { path: [UUID, "parameters"] });
    type("passive-limit", "300");
    fireEvent.click(screen.getByRole("button", { name: "Discard changes" }));
    expect(input("passive-limit").value).toBe("400");
  });

  it("is read-only without administrative access", () => {
    renderPage([agent()], { path: [UUID, "parameters"], admin: false });
    screen.getByText("Read only: changing parameters needs administrative access.");
    expect(input("passive-limit").readOnly).toBe(true);
    expect(input("enabled").disabled).toBe(true);
    expect(input("variant").disabled).toBe(true);
    expect(screen.queryByRole("button", { name: "Apply" })).toBeNull();
  });

  it("follows the agent's values when they change under an untouched form", async () => {
    const { store } = renderPage([agent()], { path: [UUID, "parameters"] });
    store.agentProperties(agent().busName, {
      params: { ...agent().info?.params, "passive-limit": 250 },
    });
    await waitFor(() => expect(input("passive-limit").value).toBe("250"));
  });
});
