// Back office — Interessados (operators). Built in issue #20.
import { h } from "./core.js";

export async function leadsScreen() {
  return [h("h1", { text: "Interessados" })];
}
