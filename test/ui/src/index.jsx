// cfeast's web UI: Feast's own <FeastUI> component, nothing else.  It reads
// /projects-list.json and the registry REST API under /api/v1, both served
// by cfeast-server from the database's cfeast registry.
import "cfeast:eui-icons";
import React from "react";
import { createRoot } from "react-dom/client";
import FeastUI from "@feast-dev/feast-ui";
import "@feast-dev/feast-ui/dist/feast-ui.css";

createRoot(document.getElementById("root")).render(
  <React.StrictMode>
    <FeastUI />
  </React.StrictMode>
);
