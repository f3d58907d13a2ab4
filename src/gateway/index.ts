export {
  type GatewayConfig,
  type GatewayStoreConfig,
  loadGatewayConfig,
  parseGatewayConfig,
} from './config.js';
export { type DemoUpstream, startDemoUpstream } from './demo-upstream.js';
export { type Gateway, type GatewayLogger, type GatewayOptions, startGateway } from './gateway.js';
export { createProxy, type Proxy, type ProxyOptions } from './proxy.js';
export { type GatewayStore, openGatewayStore } from './store.js';
