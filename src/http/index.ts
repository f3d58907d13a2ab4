export {
  type ClientIp,
  type ClientIpOptions,
  type ClientIpRequest,
  type ClientIpWarning,
  createClientIp,
  type ForwardingHeader,
  UNKNOWN_CLIENT_IP,
} from './client-ip.js';
export {
  type HeaderOptions,
  type HeaderProfile,
  type QuotaReport,
  type ResponseReport,
  rateLimitHeaders,
} from './headers.js';
export {
  createRejection,
  type Rejection,
  type RejectionCause,
  type RejectionContext,
  type RejectionOptions,
  type RejectionResponse,
  type RejectionTemplate,
  type TemplateContext,
  type TemplateJson,
  type ViolatedPolicy,
} from './rejection.js';
