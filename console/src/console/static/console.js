// Progressive enhancement only: every page works without it. Loaded as a module from 'self' (CSP).
import { initAll } from "./govuk/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();
