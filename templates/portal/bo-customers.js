// Back office — Clientes (operators). Built in issue #20.
import { h } from "./core.js";

export async function customersScreen() {
  return [h("h1", { text: "Clientes" })];
}
