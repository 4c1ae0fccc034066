// The test's own view of the agents, beside the page's, through the product's D-Bus client:
// which agents are on the bus, and what an agent says when asked directly.
import { AgentClient } from "../../src/dbus/client.js";

async function withClient<T>(f: (client: AgentClient) => Promise<T>): Promise<T> {
  const client = await AgentClient.connect();
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

export const agentNamesOnBus = (): Promise<string[]> =>
  withClient(async (client) => (await client.agents()).map((a) => a.busName));

/** An agent's `Parameters` property, read over D-Bus. */
export const agentParameters = (busName: string) =>
  withClient((client) => client.property(busName, "Parameters"));
